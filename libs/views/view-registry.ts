import { createHash, randomUUID } from 'node:crypto';
import type { RedisClient } from '../redis/index.js';
import type { CacheKeys } from '../cache/index.js';
import type { IndexView, Prisma, ViewRepository } from '../db/index.js';
import { errorReason, type Logger } from '../log/index.js';
import type { ProtocolAdapter } from '../protocol/index.js';
import { InvalidViewRulesError, VIEW_NAME, compileConfiguredViews, compileRules, type CompiledRules, type ViewRules } from '../config/index.js';

/** A view as requests apply it and the admin API shows it. */
export interface View {
  name: string;
  rules: ViewRules;
  compiled: CompiledRules;
  /** Where it is defined: ORCHARD_VIEWS (read-only) or the admin API (PostgreSQL). */
  source: 'config' | 'api';
  /** Counts the changes of a stored view (1 for a view of ORCHARD_VIEWS). */
  revision: number;
  updatedAt: string;
  /**
   * A hash of the name and rules: the key of every page built for the view, so pages built under
   * other rules are never served (a view deleted and made again starts at revision 1 again).
   */
  fingerprint: string;
}

/** A view as JSON shows it. */
export type ViewDescription = Omit<View, 'compiled' | 'fingerprint'>;

/** The admin API's errors: a name or rules it cannot take, a view of the configuration. */
export class ViewInputError extends Error {}
export class ViewConflictError extends Error {}
/** The stored views could not be loaded yet (PostgreSQL unreachable since the start). */
export class ViewsUnavailableError extends Error {}

export interface ViewRegistryDeps {
  protocol: ProtocolAdapter;
  /** ORCHARD_VIEWS: name → rules as configured. */
  configured: Record<string, unknown>;
  repository: ViewRepository;
  /** The cache Redis: its version key tells every process a view changed. */
  redis: RedisClient;
  keys: CacheKeys;
  logger: Logger;
  /** How often each process checks for changes made elsewhere; default 1 s. */
  checkIntervalMs?: number;
  /** How often the stored views are reloaded whatever the version says; default 60 s. */
  refreshMs?: number;
}

/**
 * Every view: those of ORCHARD_VIEWS (checked at start: a bad one stops the service) and those
 * stored in PostgreSQL through the admin API. A change writes a new version key in Redis, which
 * every process checks every `checkIntervalMs` and then reloads the stored views; without Redis
 * each check reloads from PostgreSQL, and every `refreshMs` a check reloads them anyway (a change
 * whose announcement was lost). An announced change applies everywhere within about one interval
 * (plus a page already being built).
 */
export class ViewRegistry {
  private readonly configured: Map<string, View>;
  private stored = new Map<string, View>();
  private version: string | null | undefined;
  private loadedAt = 0;
  private everLoaded = false;
  private checking: Promise<void> | undefined;
  private loaded: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly intervalMs: number;

  constructor(private readonly deps: ViewRegistryDeps) {
    this.intervalMs = deps.checkIntervalMs ?? 1_000;
    let compiled: ReturnType<typeof compileConfiguredViews>;
    try {
      compiled = compileConfiguredViews(deps.configured, deps.protocol);
    } catch (err) {
      if (err instanceof InvalidViewRulesError) throw new ViewInputError(`ORCHARD_VIEWS: ${err.message}`);
      throw err;
    }
    this.configured = new Map(compiled.map(([name, rules]) => [name, viewOf(name, rules, 'config', 1, new Date(0).toISOString())]));
  }

  /** Loads the stored views and starts checking for changes. */
  start(): void {
    this.loaded = this.check().catch((err: unknown) => this.deps.logger.warn({ err: errorReason(err) }, 'stored views not loaded yet'));
    this.timer ??= setInterval(() => {
      void this.check().catch((err: unknown) => this.deps.logger.debug({ err: errorReason(err) }, 'view check failed'));
    }, this.intervalMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The view of this name, or undefined when there is none; `unknown` before the stored views were first loaded (ask {@link get}). */
  known(name: string): View | undefined | 'unknown' {
    const configured = this.configured.get(name);
    if (configured) return configured;
    return this.everLoaded ? this.stored.get(name) : 'unknown';
  }

  /**
   * The view of this name (waits for the first load of the stored ones).
   * @throws ViewsUnavailableError for a name not configured while the stored views were never loaded
   */
  async get(name: string): Promise<View | undefined> {
    const configured = this.configured.get(name);
    if (configured) return configured;
    await this.loaded;
    if (!this.everLoaded) throw new ViewsUnavailableError('the stored views cannot be read right now (PostgreSQL unreachable)');
    return this.stored.get(name);
  }

  async list(): Promise<ViewDescription[]> {
    await this.loaded;
    return [...this.configured.values(), ...[...this.stored.values()].filter((v) => !this.configured.has(v.name))].map(describeView);
  }

  /** Creates or replaces a stored view. @throws ViewInputError, ViewConflictError */
  async put(name: string, rules: unknown): Promise<{ view: ViewDescription; created: boolean }> {
    this.refuseConfigured(name);
    let checked: ViewRules;
    try {
      checked = compileRules(rules, this.deps.protocol).rules;
    } catch (err) {
      if (err instanceof InvalidViewRulesError) throw new ViewInputError(err.message);
      throw err;
    }
    const { view, created } = await this.deps.repository.put(name, this.deps.protocol.name, checked as Prisma.InputJsonValue);
    await this.changed();
    this.deps.logger.info({ view: name, revision: view.revision }, created ? 'view created' : 'view changed');
    return { view: describeView(this.fromRow(view)!), created };
  }

  /** @returns whether a stored view was deleted. @throws ViewConflictError for a configured one */
  async delete(name: string): Promise<boolean> {
    this.refuseConfigured(name);
    const deleted = await this.deps.repository.delete(name);
    if (deleted) {
      await this.changed();
      this.deps.logger.info({ view: name }, 'view deleted');
    }
    return deleted;
  }

  private refuseConfigured(name: string): void {
    if (!VIEW_NAME.test(name)) throw new ViewInputError(`view name must match ${VIEW_NAME.source}`);
    if (this.configured.has(name)) throw new ViewConflictError(`view ${name} is defined in ORCHARD_VIEWS; change it there`);
  }

  /** Announces a change to every process (a new version) and reloads here at once. */
  private async changed(): Promise<void> {
    await this.deps.redis.set(this.versionKey(), randomUUID()).catch((err: unknown) => {
      // Without Redis the other processes reload from PostgreSQL at every check anyway.
      this.deps.logger.warn({ err: errorReason(err) }, 'could not announce a view change in Redis');
    });
    // A check in flight may have read PostgreSQL before the change: the next one starts after it
    // (its failure is reported by the caller that started it).
    await this.checking?.catch(() => undefined);
    this.version = undefined;
    await this.check();
  }

  /** One check at a time: a slow PostgreSQL never stacks them up, and an older load never lands last. */
  private check(): Promise<void> {
    this.checking ??= this.checkNow().finally(() => (this.checking = undefined));
    return this.checking;
  }

  /** Reloads the stored views when the version in Redis changed (every time when Redis does not answer). */
  private async checkNow(): Promise<void> {
    let version: string | null | undefined;
    try {
      version = await this.deps.redis.get(this.versionKey());
    } catch {
      version = undefined;
    }
    const due = Date.now() - this.loadedAt >= (this.deps.refreshMs ?? 60_000);
    if (!due && version !== undefined && this.version !== undefined && version === this.version) return;
    const rows = await this.deps.repository.list();
    const stored = new Map<string, View>();
    for (const row of rows) {
      const view = this.fromRow(row);
      if (view) stored.set(view.name, view);
    }
    this.stored = stored;
    this.version = version;
    this.loadedAt = Date.now();
    this.everLoaded = true;
  }

  private fromRow(row: IndexView): View | undefined {
    if (row.protocol !== this.deps.protocol.name) return undefined;
    try {
      return viewOf(row.name, compileRules(row.rules, this.deps.protocol), 'api', row.revision, row.updatedAt.toISOString());
    } catch (err) {
      // Rules stored by an older or newer Orchard that this one cannot apply: the view is left out, loudly.
      this.deps.logger.error({ view: row.name, err: errorReason(err) }, 'a stored view has rules this version cannot apply; not served');
      return undefined;
    }
  }

  private versionKey(): string {
    return this.deps.keys.key('view', this.deps.protocol.name, '@version');
  }
}

function viewOf(name: string, { rules, compiled }: ReturnType<typeof compileRules>, source: View['source'], revision: number, updatedAt: string): View {
  const fingerprint = createHash('sha256')
    .update(JSON.stringify([name, rules]))
    .digest('hex')
    .slice(0, 16);
  return { name, rules, compiled, source, revision, updatedAt, fingerprint };
}

/** A view as JSON shows it (the admin API, `GET /v/<view>/`). */
export function describeView(view: View): ViewDescription {
  const { compiled: _compiled, fingerprint: _fingerprint, ...rest } = view;
  return rest;
}
