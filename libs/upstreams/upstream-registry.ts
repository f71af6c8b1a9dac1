import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../redis/index.js';
import { deleteMatching, type CacheKeys } from '../cache/index.js';
import type { UpstreamConfig } from '../config/index.js';
import { Prisma, type UpstreamRepository, type UpstreamSource } from '../db/index.js';
import { UpstreamError } from '../http/index.js';
import { errorReason, type Logger } from '../log/index.js';
import { UpstreamConflictError, UpstreamInputError } from './errors.js';
import { UPSTREAM_NAME, authToStored, checkedUrl, fromStored, type UpstreamInput, type UpstreamPatch } from './stored-upstream.js';

export interface UpstreamRegistryDeps {
  protocol: string;
  /** The upstreams of ORCHARD_UPSTREAMS (read-only here). */
  configured: UpstreamConfig[];
  repository: UpstreamRepository;
  /** The cache connection (fails fast while Redis is down). */
  redis: RedisClient;
  keys: CacheKeys;
  logger: Logger;
  /** How often each process checks whether another one changed the upstreams; default 1 s. */
  checkIntervalMs?: number;
}

/** An upstream as the admin API shows it: never its credentials. */
export interface UpstreamView {
  name: string;
  url: string;
  protocol: string;
  priority: number;
  enabled: boolean;
  /** How Orchard authenticates to it; the secret itself is never shown. */
  auth: 'none' | 'basic' | 'bearer';
  /** Where it is configured: ORCHARD_UPSTREAMS (read-only) or PostgreSQL (the admin API). */
  source: 'environment' | 'database';
  /** Whether requests use it (enabled, usable, and not shadowed by an environment upstream of the same name). */
  active: boolean;
}

interface Current {
  /** The Redis version the list was built under (null: no version key yet). */
  version: string | null;
  upstreams: UpstreamConfig[];
  checkedAt: number;
}

/**
 * The merged upstream list every service uses: ORCHARD_UPSTREAMS plus the upstreams stored in
 * PostgreSQL (managed through the admin API), ordered by priority (the environment's first on a
 * tie). The stored part is cached in Redis (category `upstream`) tagged with a version key; a change
 * drops every `upstream` key (that list and the file→upstream maps) and writes a new version, which
 * every process notices within `checkIntervalMs`. The version is also the generation cached pages
 * and file maps are tagged with, so nothing filled under the old upstreams is served as current.
 *
 * Without Redis the list is read from PostgreSQL (at most once per interval); without PostgreSQL
 * the last list is kept. A process that has never loaded the list fails requests rather than fall
 * back to the environment's upstreams alone: skipping a private upstream could serve a public
 * package under a private name.
 */
export class UpstreamRegistry {
  private current: Current | undefined;
  private loading: Promise<Current> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pendingDrop = false;
  private readonly intervalMs: number;

  constructor(private readonly deps: UpstreamRegistryDeps) {
    this.intervalMs = deps.checkIntervalMs ?? 1_000;
  }

  /** The upstreams to ask, highest priority first. */
  async list(): Promise<UpstreamConfig[]> {
    const current = this.current;
    if (current && Date.now() - current.checkedAt < this.intervalMs) return current.upstreams;
    return (await this.refresh()).upstreams;
  }

  /** The configuration generation (changes with every admin change and when Redis lost its keys). */
  generation(): string {
    return this.current?.version ?? '0';
  }

  /** Loads the list now and starts checking for changes made by other processes (and retrying a drop Redis missed). */
  start(): void {
    void this.refresh().catch((err: unknown) => this.deps.logger.warn({ err: (err as Error).message }, 'upstream list not loaded yet'));
    this.timer ??= setInterval(() => {
      void this.refresh().catch((err: unknown) => this.deps.logger.debug({ err: errorReason(err) }, 'upstream list check failed'));
    }, this.intervalMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Every upstream, active or not, for the admin API. */
  async describe(): Promise<UpstreamView[]> {
    const rows = await this.deps.repository.list();
    const configured = new Set(this.deps.configured.map((u) => u.name));
    const views: UpstreamView[] = [
      ...this.deps.configured.map((u) => ({
        name: u.name,
        url: u.url,
        protocol: u.protocol,
        priority: u.priority,
        enabled: true,
        auth: u.auth.type,
        source: 'environment' as const,
        active: true,
      })),
      ...rows.map((row) => view(row, row.enabled && !configured.has(row.name) && fromStored(row, this.deps.protocol) !== null)),
    ];
    return views.sort(byPriority);
  }

  /** Adds a stored upstream. */
  async add(input: UpstreamInput): Promise<UpstreamView> {
    if (!UPSTREAM_NAME.test(input.name)) throw new UpstreamInputError(`name must match ${UPSTREAM_NAME.source}`);
    this.refuseConfigured(input.name);
    const url = checkedUrl(input.url, input.name);
    let row: UpstreamSource;
    try {
      row = await this.deps.repository.create({
        name: input.name,
        url,
        protocol: this.deps.protocol,
        ...(input.priority !== undefined ? { priority: input.priority } : {}),
        ...(input.enabled !== undefined ? { enabled: input.enabled } : {}),
        ...authToStored(input.auth ?? { type: 'none' }),
      });
    } catch (err) {
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') {
        throw new UpstreamConflictError(`upstream ${input.name} exists already`);
      }
      throw err;
    }
    await this.publish();
    this.deps.logger.info({ upstream: row.name, priority: row.priority, enabled: row.enabled }, 'upstream added');
    return view(row, row.enabled);
  }

  /** Changes a stored upstream; null when there is none by that name. */
  async change(name: string, patch: UpstreamPatch): Promise<UpstreamView | null> {
    this.refuseConfigured(name);
    const row = await this.deps.repository.update(name, {
      ...(patch.url !== undefined ? { url: checkedUrl(patch.url, name) } : {}),
      ...(patch.priority !== undefined ? { priority: patch.priority } : {}),
      ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
      ...(patch.auth !== undefined ? authToStored(patch.auth) : {}),
    });
    if (!row) return null;
    await this.publish();
    this.deps.logger.info({ upstream: name, changed: Object.keys(patch) }, 'upstream changed');
    return view(row, row.enabled);
  }

  /** Removes a stored upstream; false when there is none by that name. */
  async remove(name: string): Promise<boolean> {
    this.refuseConfigured(name);
    const removed = await this.deps.repository.remove(name);
    if (removed) {
      await this.publish();
      this.deps.logger.info({ upstream: name }, 'upstream removed');
    }
    return removed;
  }

  /**
   * Publishes a configuration change: drops every `upstream` key (the cached list and the
   * file→upstream maps), then writes a new version so every process reloads. While Redis is down
   * the drop is retried by the checker until it succeeds.
   */
  async changed(): Promise<void> {
    // Reload on next use; until then the old generation stands (clearing it would make every
    // cached page look outdated for a moment).
    if (this.current) this.current.checkedAt = 0;
    try {
      await deleteMatching(this.deps.redis, this.deps.keys.pattern('upstream', this.deps.protocol));
      await this.deps.redis.set(this.versionKey(), randomUUID());
      this.pendingDrop = false;
    } catch (err) {
      this.pendingDrop = true;
      this.deps.logger.warn({ err: (err as Error).message }, 'could not drop the cached upstream list; retrying when Redis is back');
    }
  }

  /** A change made here: drop, then reload at once so this process uses it from the next request. */
  private async publish(): Promise<void> {
    await this.changed();
    // The change is stored and published; a failed reload here is retried on next use.
    await this.refresh().catch((err: unknown) => this.deps.logger.debug({ err: errorReason(err) }, 'upstream list not reloaded after a change'));
  }

  /** Reloads the list when another process changed it (or when it was never loaded). */
  private refresh(): Promise<Current> {
    this.loading ??= (async () => {
      if (this.pendingDrop) await this.changed();
      return this.load();
    })().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async load(): Promise<Current> {
    const { redis, logger } = this.deps;
    const previous = this.current;
    let version: string | null | undefined;
    try {
      version = await redis.get(this.versionKey());
    } catch (err) {
      version = undefined; // Redis is down: PostgreSQL decides
      logger.debug({ err: errorReason(err) }, 'upstream version not read from Redis; reading PostgreSQL');
    }
    const now = Date.now();
    if (previous && version !== undefined && version === previous.version) {
      previous.checkedAt = now;
      return previous;
    }
    let stored = version === undefined ? undefined : await this.readCached(version);
    if (!stored) {
      try {
        stored = (await this.deps.repository.list())
          .filter((row) => row.enabled)
          .map((row) => fromStored(row, this.deps.protocol))
          .filter((u) => u !== null);
      } catch (err) {
        if (previous) {
          previous.checkedAt = now;
          logger.warn({ err: (err as Error).message }, 'PostgreSQL unreachable; keeping the last upstream list');
          return previous;
        }
        throw new UpstreamError('unreachable', 'the upstream configuration is unavailable (PostgreSQL unreachable)', undefined, { cause: err });
      }
      if (version !== undefined) await this.writeCached(version, stored);
    }
    const current: Current = { version: version === undefined ? (previous?.version ?? null) : version, upstreams: merge(this.deps.configured, stored), checkedAt: now };
    if (previous && current.version !== previous.version) {
      logger.info({ upstreams: current.upstreams.map((u) => u.name) }, 'upstream configuration changed');
    }
    this.current = current;
    return current;
  }

  /** The stored upstreams cached under `version`, or undefined (absent, outdated or Redis trouble). */
  private async readCached(version: string | null): Promise<UpstreamConfig[] | undefined> {
    try {
      const raw = await this.deps.redis.get(this.listKey());
      if (!raw) return undefined;
      const cached = JSON.parse(raw) as { version: string | null; upstreams: UpstreamConfig[] };
      return cached.version === version ? cached.upstreams : undefined;
    } catch (err) {
      this.deps.logger.debug({ err: errorReason(err) }, 'cached upstream list not read');
      return undefined;
    }
  }

  /**
   * Caches the stored upstreams tagged with the version read before PostgreSQL was: a list read
   * before a concurrent change carries the old version, so no process takes it for the new one.
   */
  private async writeCached(version: string | null, upstreams: UpstreamConfig[]): Promise<void> {
    await this.deps.redis
      .set(this.listKey(), JSON.stringify({ version, upstreams }), 'EX', LIST_TTL_SECONDS)
      .catch((err: unknown) => this.deps.logger.debug({ err: errorReason(err) }, 'upstream list not cached'));
  }

  private refuseConfigured(name: string): void {
    if (this.deps.configured.some((u) => u.name === name)) {
      throw new UpstreamConflictError(`upstream ${name} is configured in ORCHARD_UPSTREAMS; change it there`);
    }
  }

  // Project names never start with "@", so these cannot collide with a project's file map.
  private listKey(): string {
    return this.deps.keys.key('upstream', this.deps.protocol, '@stored');
  }

  private versionKey(): string {
    return this.deps.keys.key('upstream', this.deps.protocol, '@version');
  }
}

/** DESIGN.md: the `upstream` category lives an hour. */
const LIST_TTL_SECONDS = 3600;

/** The environment's upstreams and the stored ones by priority; a stored name the environment uses is ignored. */
function merge(configured: UpstreamConfig[], stored: UpstreamConfig[]): UpstreamConfig[] {
  const names = new Set(configured.map((u) => u.name));
  const ranked = [...configured.map((u) => ({ u, env: 0 })), ...stored.filter((u) => !names.has(u.name)).map((u) => ({ u, env: 1 }))];
  ranked.sort((a, b) => a.u.priority - b.u.priority || a.env - b.env || a.u.name.localeCompare(b.u.name));
  return ranked.map((r) => r.u);
}

function view(row: UpstreamSource, active: boolean): UpstreamView {
  return {
    name: row.name,
    url: row.url,
    protocol: row.protocol,
    priority: row.priority,
    enabled: row.enabled,
    auth: row.authType === 'basic' || row.authType === 'bearer' ? row.authType : 'none',
    source: 'database',
    active,
  };
}

function byPriority(a: UpstreamView, b: UpstreamView): number {
  const env = (v: UpstreamView) => (v.source === 'environment' ? 0 : 1);
  return a.priority - b.priority || env(a) - env(b) || a.name.localeCompare(b.name);
}
