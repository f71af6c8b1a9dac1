import { errorReason } from '../log/index.js';
import { isDatabaseUnavailable } from './database-unavailable.js';
import { MigrationError, runMigrations, type RunMigrationsOptions } from './migrate.js';

/** Where the background migration stands. */
export type MigrationState =
  /** Not applied yet: PostgreSQL unreachable, or the first attempt still running. */
  | { status: 'pending'; reason: string; attempts: number }
  /** An applied migration was edited or an earlier run failed: a human must resolve it. */
  | { status: 'failed'; reason: string; attempts: number }
  | { status: 'applied'; applied: string[] }
  | { status: 'stopped' };

/** The logger calls made here; a pino logger fits. */
export interface BackgroundMigrationsLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
  debug?(fields: object, message: string): void;
}

export interface BackgroundMigrationsOptions {
  databaseUrl: string;
  logger: BackgroundMigrationsLogger;
  /** Delay before the first retry, doubled after each failure up to `maxRetryDelayMs`; default 500 ms. */
  firstRetryDelayMs?: number;
  /** Longest delay between attempts; default 10 s. */
  maxRetryDelayMs?: number;
  /**
   * What an attempt runs: {@link runMigrations} (the default: create and migrate), or
   * `checkMigrationsApplied` for a service that must not run DDL and waits for the migration Job.
   */
  migrate?: (options: RunMigrationsOptions) => Promise<string[]>;
}

/**
 * Creates and migrates the database without holding up the service: a service starts serving what
 * needs no PostgreSQL (cached pages and files, downloads) at once, and this retries with backoff
 * until PostgreSQL answers. Concurrent services serialise on the migration runner's advisory lock.
 * `stop()` ends the loop (and an attempt in flight) for shutdown.
 */
export class BackgroundMigrations {
  private current: MigrationState = { status: 'pending', reason: 'not attempted yet', attempts: 0 };
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private attempt: Promise<void> | undefined;
  private started = false;
  private settle!: (applied: boolean) => void;
  /** Resolves true once the migrations are applied, false if stopped before. */
  readonly applied: Promise<boolean> = new Promise((resolve) => (this.settle = resolve));
  private firstSettled!: () => void;
  /** Resolves when the first attempt has ended, however it ended. */
  readonly firstAttempt: Promise<void> = new Promise((resolve) => (this.firstSettled = resolve));

  constructor(private readonly options: BackgroundMigrationsOptions) {}

  state(): MigrationState {
    return this.current;
  }

  /** Starts the first attempt now; later ones follow on their own until one succeeds or `stop()`. */
  start(): void {
    if (this.started || this.abort.signal.aborted) return;
    this.started = true;
    this.runAttempt(this.options.firstRetryDelayMs ?? 500);
  }

  /** Ends the retry loop and any attempt in flight (its connection is closed, a migration rolls back). */
  async stop(): Promise<void> {
    if (this.abort.signal.aborted) return;
    this.abort.abort();
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.attempt;
    if (this.current.status !== 'applied') this.current = { status: 'stopped' };
    this.settle(false);
    this.firstSettled();
  }

  private runAttempt(nextDelayMs: number): void {
    this.timer = undefined;
    this.attempt = this.tryOnce(nextDelayMs).finally(() => {
      this.attempt = undefined;
      this.firstSettled();
    });
  }

  private async tryOnce(delayMs: number): Promise<void> {
    const { logger } = this.options;
    const migrate = this.options.migrate ?? runMigrations;
    const attempts = this.current.status === 'pending' || this.current.status === 'failed' ? this.current.attempts + 1 : 1;
    try {
      const applied = await migrate({
        databaseUrl: this.options.databaseUrl,
        logger: { info: (message) => logger.info({}, message), debug: (message) => logger.debug?.({}, message) },
        signal: this.abort.signal,
      });
      this.current = { status: 'applied', applied };
      logger.info({ applied, attempts }, applied.length > 0 ? 'database migrated' : 'database schema is up to date');
      this.settle(true);
      return;
    } catch (err) {
      if (this.abort.signal.aborted) {
        logger.debug?.({ reason: errorReason(err) }, 'migration attempt ended by stop()');
        return;
      }
      const reason = errorReason(err);
      // A migration that failed because the server went away is worth retrying like any outage;
      // an edited or half-applied migration is not, but a human may resolve it while we wait.
      const needsHuman = err instanceof MigrationError && !isDatabaseUnavailable(err);
      const retryInMs = needsHuman ? this.maxDelay() : delayMs;
      this.current = { status: needsHuman ? 'failed' : 'pending', reason, attempts };
      if (needsHuman) logger.error({ reason, attempts, retryInMs }, 'database migration needs attention; retrying');
      else logger.warn({ reason, attempts, retryInMs }, 'database not migrated yet; retrying in the background');
      this.timer = setTimeout(() => this.runAttempt(Math.min(retryInMs * 2, this.maxDelay())), retryInMs);
      this.timer.unref();
    }
  }

  private maxDelay(): number {
    return this.options.maxRetryDelayMs ?? 10_000;
  }
}
