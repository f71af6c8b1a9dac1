import pg from 'pg';
import { errorReason } from '../log/index.js';

/** Minimal logger the migration code writes to; a pino logger fits. */
export interface MigrationLogger {
  info(message: string): void;
  debug?(message: string): void;
}

/** PostgreSQL's error code for a database that does not exist. */
export const INVALID_CATALOG_NAME = '3D000';
const DUPLICATE_DATABASE = '42P04';
// Two concurrent CREATE DATABASE statements can also collide on pg_database's unique index.
const UNIQUE_VIOLATION = '23505';

/** The SQLSTATE code of a PostgreSQL error, if it is one. */
export function pgCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : undefined;
}

/**
 * A client whose connection errors surface as the failure of the query in flight: without an
 * 'error' listener, a server shutting down between two queries would crash the process.
 */
export function openClient(connectionString: string, connectTimeoutMs: number, logger?: MigrationLogger): pg.Client {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: connectTimeoutMs });
  client.on('error', (err: Error) => logger?.debug?.(`PostgreSQL connection error: ${errorReason(err)}`));
  return client;
}

/** The database named in a connection URL, and the URL of the server's `postgres` maintenance database. */
export function splitDatabaseUrl(databaseUrl: string): { database: string; maintenanceUrl: string } {
  const url = new URL(databaseUrl);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!database) throw new Error('DATABASE_URL names no database');
  url.pathname = '/postgres';
  return { database, maintenanceUrl: url.toString() };
}

/** Double-quotes an SQL identifier. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Creates the database named in `databaseUrl` if it does not exist. Safe to run from several
 * processes at once: losing the race to another creator is not an error.
 * @returns whether this call created the database
 */
export async function ensureDatabase(databaseUrl: string, logger?: MigrationLogger, connectTimeoutMs = 10_000): Promise<boolean> {
  const probe = openClient(databaseUrl, connectTimeoutMs, logger);
  try {
    await probe.connect();
    return false;
  } catch (error) {
    if (pgCode(error) !== INVALID_CATALOG_NAME) throw error;
  } finally {
    await probe.end().catch((err: unknown) => logger?.debug?.(`database probe connection not closed cleanly: ${errorReason(err)}`));
  }

  const { database, maintenanceUrl } = splitDatabaseUrl(databaseUrl);
  const admin = openClient(maintenanceUrl, connectTimeoutMs, logger);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${quoteIdentifier(database)}`);
    logger?.info(`created database ${database}`);
    return true;
  } catch (error) {
    const code = pgCode(error);
    if (code === DUPLICATE_DATABASE || code === UNIQUE_VIOLATION) return false;
    throw error;
  } finally {
    await admin.end().catch((err: unknown) => logger?.debug?.(`maintenance connection not closed cleanly: ${errorReason(err)}`));
  }
}
