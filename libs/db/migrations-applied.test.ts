import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, testServerUrl, type TestDatabase, queryRows } from '../../test/support/postgres.js';
import { MigrationError, runMigrations } from './migrate.js';
import { findMigrationsDir } from './migration-files.js';
import { MigrationsNotAppliedError, checkMigrationsApplied } from './migrations-applied.js';

const migrationsDir = findMigrationsDir();

async function databaseExists(url: string): Promise<boolean> {
  const name = new URL(url).pathname.slice(1);
  return (await queryRows(await testServerUrl(), 'SELECT 1 FROM pg_database WHERE datname = $1', [name])).length === 1;
}

/** What `checkMigrationsApplied` threw. */
async function failure(url: string, dir = migrationsDir): Promise<unknown> {
  return checkMigrationsApplied({ databaseUrl: url, migrationsDir: dir }).then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe('checkMigrationsApplied (ORCHARD_MIGRATE=off)', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function database(create: boolean): Promise<TestDatabase> {
    const db = await createTestDatabase({ create });
    cleanups.push(db.drop);
    return db;
  }

  it('waits for a database that does not exist, without creating it', async () => {
    const db = await database(false);
    const err = await failure(db.url);
    expect(err).toBeInstanceOf(MigrationsNotAppliedError);
    expect((err as Error).message).toMatch(/^waiting for the migration Job \(ORCHARD_MIGRATE=off\): database orchard_test_\w+ does not exist yet$/);
    expect(await databaseExists(db.url)).toBe(false);
  });

  it('waits for an empty database without creating anything in it, then passes once migrated', async () => {
    const db = await database(true);
    const err = await failure(db.url);
    expect(err).toBeInstanceOf(MigrationsNotAppliedError);
    expect((err as Error).message).toMatch(/no migration applied yet/);
    const tables = await queryRows(db.url, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`);
    expect(tables, 'no DDL, not even the bookkeeping table').toEqual([]);

    await runMigrations({ databaseUrl: db.url });
    expect(await checkMigrationsApplied({ databaseUrl: db.url })).toEqual([]);
  });

  it('names the migrations a newer build ships that are not applied yet, and accepts ones it does not know', async () => {
    const db = await database(true);
    const dir = await mkdtemp(join(tmpdir(), 'orchard-migrations-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await cp(migrationsDir, dir, { recursive: true });
    await runMigrations({ databaseUrl: db.url });
    await mkdir(join(dir, '20991231000000_next'));
    await writeFile(join(dir, '20991231000000_next', 'migration.sql'), 'CREATE TABLE "Next" (id int);');
    const err = await failure(db.url, dir);
    expect(err).toBeInstanceOf(MigrationsNotAppliedError);
    expect((err as MigrationsNotAppliedError).missing).toEqual(['20991231000000_next']);
    expect((err as Error).message).toMatch(/not applied yet: 20991231000000_next$/);

    // The newer build's Job ran: this (older) build's services are fine with the extra migration.
    await runMigrations({ databaseUrl: db.url, migrationsDir: dir });
    expect(await checkMigrationsApplied({ databaseUrl: db.url, migrationsDir: dir })).toEqual([]);
    expect(await checkMigrationsApplied({ databaseUrl: db.url })).toEqual([]);
  });

  it('reports an edited migration as needing a human, like the runner', async () => {
    const db = await database(true);
    await runMigrations({ databaseUrl: db.url });
    await queryRows(db.url, `UPDATE "_prisma_migrations" SET checksum = repeat('0', 64)`);
    expect(await failure(db.url)).toBeInstanceOf(MigrationError);
  });
});
