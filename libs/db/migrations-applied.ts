import { INVALID_CATALOG_NAME, openClient, pgCode, splitDatabaseUrl } from './ensure-database.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, SELECT_MIGRATION_ROWS, pendingMigrations, type MigrationRow, type RunMigrationsOptions } from './migrate.js';
import { findMigrationsDir, readMigrationFiles } from './migration-files.js';

/** The schema this build needs is not there yet: someone else (the migration Job) has to apply it. */
export class MigrationsNotAppliedError extends Error {
  override readonly name = 'MigrationsNotAppliedError';
  constructor(
    what: string,
    /** The migrations this build ships that are not recorded as applied, oldest first. */
    readonly missing: string[],
  ) {
    super(`waiting for the migration Job (ORCHARD_MIGRATE=off): ${what}`);
  }
}

/**
 * Checks, with reads only (no CREATE DATABASE, no DDL, not even the bookkeeping table), that every
 * migration this build ships is recorded as applied in `_prisma_migrations`: what a service with
 * ORCHARD_MIGRATE=off waits for. Migrations recorded but unknown to this build (a newer release
 * migrated already) are fine. Same signature as {@link runMigrations}, so the background loop can
 * run either.
 * @returns no names: this call applies nothing
 * @throws MigrationsNotAppliedError while the database, the table or a migration is missing
 * @throws MigrationError when a recorded migration failed or was edited, as runMigrations would
 */
export async function checkMigrationsApplied(options: RunMigrationsOptions): Promise<string[]> {
  const { databaseUrl, logger, signal } = options;
  const files = await readMigrationFiles(options.migrationsDir ?? findMigrationsDir());
  signal?.throwIfAborted();
  const client = openClient(databaseUrl, options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, logger);
  const closed = (err: unknown) => logger?.debug?.(`schema check connection not closed cleanly: ${(err as Error).message}`);
  const abort = () => void client.end().catch(closed);
  signal?.addEventListener('abort', abort, { once: true });
  const all = files.map((f) => f.name);
  try {
    try {
      await client.connect();
    } catch (err) {
      if (pgCode(err) !== INVALID_CATALOG_NAME) throw err;
      throw new MigrationsNotAppliedError(`database ${splitDatabaseUrl(databaseUrl).database} does not exist yet`, all);
    }
    const { rows: tables } = await client.query<{ present: boolean }>(`SELECT to_regclass('"_prisma_migrations"') IS NOT NULL AS present`);
    if (!tables[0]?.present) throw new MigrationsNotAppliedError(`no migration applied yet (${describe(all)})`, all);
    const { rows } = await client.query<MigrationRow>(SELECT_MIGRATION_ROWS);
    const missing = pendingMigrations(files, rows).map((f) => f.name);
    if (missing.length > 0) throw new MigrationsNotAppliedError(`not applied yet: ${describe(missing)}`, missing);
    return [];
  } finally {
    signal?.removeEventListener('abort', abort);
    await client.end().catch(closed);
  }
}

function describe(names: string[]): string {
  const [first] = names;
  if (first === undefined) return 'no migrations';
  return names.length === 1 ? first : `${first} and ${names.length - 1} more`;
}
