import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { useContainers } from './containers.js';

const DEFAULT_SERVER_URL = 'postgresql://postgres@127.0.0.1:5432/postgres';

/** A database of its own for one test file or test. */
export interface TestDatabase {
  /** Connection URL of the database. */
  url: string;
  /** Terminates its connections and drops it; safe to call when it was never created. */
  drop(): Promise<void>;
}

/** Options for {@link createTestDatabase}. */
export interface CreateTestDatabaseOptions {
  /** false: only reserve a unique name (for tests of database creation); default true. */
  create?: boolean;
}

let containerUrl: Promise<string> | undefined;

function startContainer(): Promise<string> {
  containerUrl ??= import('@testcontainers/postgresql').then(async ({ PostgreSqlContainer }) => {
    const container = await new PostgreSqlContainer('postgres:16-alpine').start();
    const url = new URL(container.getConnectionUri());
    url.pathname = '/postgres';
    return url.toString();
  });
  return containerUrl;
}

/** URL of the `postgres` maintenance database on the server tests use. */
export async function testServerUrl(): Promise<string> {
  if (await useContainers('ORCHARD_TEST_DATABASE_URL')) return startContainer();
  return process.env['ORCHARD_TEST_DATABASE_URL'] ?? DEFAULT_SERVER_URL;
}

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates a fresh, uniquely named database on the test server. */
export async function createTestDatabase(options: CreateTestDatabaseOptions = {}): Promise<TestDatabase> {
  const serverUrl = await testServerUrl();
  const name = `orchard_test_${process.pid}_${randomBytes(6).toString('hex')}`;
  if (options.create ?? true) {
    await withClient(serverUrl, (c) => c.query(`CREATE DATABASE ${quote(name)}`));
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () =>
      withClient(serverUrl, async (c) => {
        await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
        await c.query(`DROP DATABASE IF EXISTS ${quote(name)}`);
      }),
  };
}

/** Runs one query on its own connection (opened and closed around it); returns the rows. */
export async function queryRows<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}
