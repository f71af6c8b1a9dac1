import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { errorReason } from '../log/index.js';
import { ensureDatabase, openClient, type MigrationLogger } from './ensure-database.js';
import { checksumMatches, findMigrationsDir, readMigrationFiles, type MigrationFile } from './migration-files.js';

export type { MigrationLogger } from './ensure-database.js';

/** Options for {@link runMigrations}. */
export interface RunMigrationsOptions {
  /** PostgreSQL connection URL; the database is created if missing. */
  databaseUrl: string;
  /** Directory holding `<name>/migration.sql`; defaults to the nearest `prisma/migrations` above this module. */
  migrationsDir?: string;
  logger?: MigrationLogger;
  /** How long connecting may take before the attempt fails; default 10 s. */
  connectTimeoutMs?: number;
  /** Ends the attempt: its connection is closed, so a migration in progress rolls back. */
  signal?: AbortSignal;
}

/** A migration problem that needs a human: a failed earlier run or an edited, already applied file. */
export class MigrationError extends Error {
  override readonly name = 'MigrationError';
  constructor(
    message: string,
    /** The migration concerned. */
    readonly migration: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

// Prisma's own lock key, so this runner and `prisma migrate deploy` elsewhere exclude each other.
const ADVISORY_LOCK_KEY = 72707369;

const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

/** A `_prisma_migrations` row, as far as deciding what is applied needs it. */
export interface MigrationRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

/**
 * Creates the database if missing and applies pending `prisma/migrations/<name>/migration.sql`
 * files in lexical order, each in its own transaction, recording them in `_prisma_migrations`
 * exactly as `prisma migrate deploy` would. Concurrent callers serialise on an advisory lock.
 * @returns the names of the migrations this call applied
 * @throws MigrationError when an applied migration's file changed or an earlier attempt failed
 */
export async function runMigrations(options: RunMigrationsOptions): Promise<string[]> {
  const { databaseUrl, logger, signal } = options;
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const migrationsDir = options.migrationsDir ?? findMigrationsDir();
  const files = await readMigrationFiles(migrationsDir);
  signal?.throwIfAborted();
  await ensureDatabase(databaseUrl, logger, connectTimeoutMs);
  signal?.throwIfAborted();

  const client = openClient(databaseUrl, connectTimeoutMs, logger);
  // Closing is best effort: the connection may already be gone (that is often why we close).
  const closed = (err: unknown) => logger?.debug?.(`migration connection not closed cleanly: ${(err as Error).message}`);
  const abort = () => void client.end().catch(closed);
  signal?.addEventListener('abort', abort, { once: true });
  try {
    await client.connect();
    await client.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCK_KEY]);
    try {
      await client.query(CREATE_MIGRATIONS_TABLE);
      const { rows } = await client.query<MigrationRow>(SELECT_MIGRATION_ROWS);
      const pending = pendingMigrations(files, rows);
      const applied: string[] = [];
      for (const file of pending) {
        await applyMigration(client, file, logger);
        logger?.info(`applied migration ${file.name}`);
        applied.push(file.name);
      }
      return applied;
    } finally {
      // Ending the session releases the lock anyway; a failed unlock must not hide the real error.
      await client.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCK_KEY]).catch(closed);
    }
  } finally {
    signal?.removeEventListener('abort', abort);
    await client.end().catch(closed);
  }
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Reads the recorded migrations, oldest first. */
export const SELECT_MIGRATION_ROWS = 'SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at';

/**
 * The files not yet applied, after checking the recorded history is sound.
 * @throws MigrationError when a recorded migration failed or its file changed since
 */
export function pendingMigrations(files: MigrationFile[], rows: MigrationRow[]): MigrationFile[] {
  const live = rows.filter((r) => r.rolled_back_at === null);
  const failed = live.find((r) => r.finished_at === null);
  if (failed) {
    throw new MigrationError(
      `migration ${failed.migration_name} failed or is still in progress (finished_at is null); ` + 'resolve it (e.g. `prisma migrate resolve`) before migrating again',
      failed.migration_name,
    );
  }
  const finished = new Map(live.map((r) => [r.migration_name, r.checksum]));
  const pending: MigrationFile[] = [];
  for (const file of files) {
    const recorded = finished.get(file.name);
    if (recorded === undefined) {
      pending.push(file);
    } else if (!checksumMatches(file, recorded)) {
      throw new MigrationError(`migration ${file.name} was modified after it was applied ` + `(recorded checksum ${recorded}, file checksum ${file.checksum})`, file.name);
    }
  }
  return pending;
}

// The bookkeeping row is written in the migration's own transaction, so a failed script leaves
// neither schema changes nor a failed row behind and can simply be fixed and re-run.
async function applyMigration(client: pg.Client, file: MigrationFile, logger?: MigrationLogger): Promise<void> {
  const id = randomUUID();
  await client.query('BEGIN');
  try {
    await client.query('INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())', [id, file.checksum, file.name]);
    await client.query(file.sql);
    await client.query('UPDATE "_prisma_migrations" SET finished_at = clock_timestamp(), applied_steps_count = 1 WHERE id = $1', [id]);
    await client.query('COMMIT');
  } catch (error) {
    // The failed statement is the error to report; a failed ROLLBACK (connection gone) ends the transaction anyway.
    await client.query('ROLLBACK').catch((err: unknown) => logger?.debug?.(`rollback of migration ${file.name} failed: ${errorReason(err)}`));
    const reason = error instanceof Error ? error.message : String(error);
    throw new MigrationError(`migration ${file.name} failed: ${reason}`, file.name, { cause: error });
  }
}
