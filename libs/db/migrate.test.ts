import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase, queryRows } from '../../test/support/postgres.js';
import { MigrationError, runMigrations } from './migrate.js';
import { findMigrationsDir } from './migration-files.js';

const migrationsDir = findMigrationsDir();
const INIT = '20261126000000_init';
const LIFECYCLE = '20261201000000_storage_lifecycle';
const VIEWS = '20261202000000_index_views';
const NPM = '20261203000000_npm_protocol';
const ALL = [INIT, LIFECYCLE, VIEWS, NPM];

interface Row {
  id: string;
  checksum: string;
  finished_at: Date | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: Date | null;
  started_at: Date;
  applied_steps_count: number;
}

describe('runMigrations', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function freshDatabase(create = false): Promise<TestDatabase> {
    const db = await createTestDatabase({ create });
    cleanups.push(db.drop);
    return db;
  }

  async function copyOfMigrations(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'orchard-migrations-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await cp(migrationsDir, dir, { recursive: true });
    return dir;
  }

  it('finds prisma/migrations from source and from a compiled dist/libs/db location', () => {
    const root = join(migrationsDir, '..', '..');
    expect(findMigrationsDir(join(root, 'dist', 'libs', 'db'))).toBe(migrationsDir);
    expect(findMigrationsDir(join(root, 'libs', 'db'))).toBe(migrationsDir);
  });

  it('creates a missing database, applies the migrations once and records them as Prisma does', async () => {
    const db = await freshDatabase();
    expect(await runMigrations({ databaseUrl: db.url })).toEqual(ALL);
    expect(await runMigrations({ databaseUrl: db.url })).toEqual([]);

    const rows = await queryRows<Row>(db.url, 'SELECT * FROM "_prisma_migrations"');
    const file = await readFile(join(migrationsDir, INIT, 'migration.sql'));
    expect(rows.map((r) => r.migration_name).sort()).toEqual(ALL);
    const row = rows.find((r) => r.migration_name === INIT)!;
    expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(row.migration_name).toBe(INIT);
    expect(row.checksum).toBe(createHash('sha256').update(file).digest('hex'));
    expect(row.finished_at).toBeInstanceOf(Date);
    expect(row.rolled_back_at).toBeNull();
    expect(row.logs).toBeNull();
    expect(row.applied_steps_count).toBe(1);

    const columns = await queryRows<{ column_name: string; data_type: string; is_nullable: string }>(
      db.url,
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns
        WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`,
    );
    expect(columns.map((c) => `${c.column_name} ${c.data_type} ${c.is_nullable}`)).toEqual([
      'id character varying NO',
      'checksum character varying NO',
      'finished_at timestamp with time zone YES',
      'migration_name character varying NO',
      'logs text YES',
      'rolled_back_at timestamp with time zone YES',
      'started_at timestamp with time zone NO',
      'applied_steps_count integer NO',
    ]);
  });

  it('lets two concurrent runners on a fresh database both succeed, applying each migration once', async () => {
    const db = await freshDatabase();
    const results = await Promise.all([runMigrations({ databaseUrl: db.url }), runMigrations({ databaseUrl: db.url })]);
    expect(results.flat().sort()).toEqual(ALL);
    const rows = await queryRows<{ n: string }>(db.url, 'SELECT count(*) AS n FROM "_prisma_migrations"');
    expect(rows[0]?.n).toBe(String(ALL.length));
  });

  it('applies new migrations in lexical order after earlier ones', async () => {
    const db = await freshDatabase();
    const dir = await copyOfMigrations();
    await runMigrations({ databaseUrl: db.url, migrationsDir: dir });
    for (const [name, sql] of [
      ['20261231000000_b', 'ALTER TABLE "t" ADD COLUMN "b" INTEGER;'],
      ['20261230000000_a', 'CREATE TABLE "t" ("a" INTEGER);'],
    ] as const) {
      await mkdir(join(dir, name));
      await writeFile(join(dir, name, 'migration.sql'), sql);
    }
    expect(await runMigrations({ databaseUrl: db.url, migrationsDir: dir })).toEqual(['20261230000000_a', '20261231000000_b']);
  });

  it('refuses to run when an applied migration file was changed, naming it', async () => {
    const db = await freshDatabase();
    const dir = await copyOfMigrations();
    await runMigrations({ databaseUrl: db.url, migrationsDir: dir });
    await writeFile(join(dir, INIT, 'migration.sql'), '-- edited\n', { flag: 'a' });
    const run = runMigrations({ databaseUrl: db.url, migrationsDir: dir });
    await expect(run).rejects.toBeInstanceOf(MigrationError);
    await expect(run).rejects.toThrow(new RegExp(`${INIT} was modified after it was applied`));
  });

  it('refuses to run after a failed migration recorded by another tool', async () => {
    const db = await freshDatabase();
    await runMigrations({ databaseUrl: db.url });
    await queryRows(db.url, `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, logs) VALUES ($1, $2, $3, 'boom')`, [
      '00000000-0000-4000-8000-000000000000',
      'x'.repeat(64),
      '20261130000000_broken',
    ]);
    await expect(runMigrations({ databaseUrl: db.url })).rejects.toThrow(/20261130000000_broken failed/);
  });

  it('rolls a failing migration back completely and names it', async () => {
    const db = await freshDatabase();
    const dir = await copyOfMigrations();
    await mkdir(join(dir, '20261230000000_bad'));
    await writeFile(join(dir, '20261230000000_bad', 'migration.sql'), 'CREATE TABLE "half" ("a" INTEGER);\nSELECT nope;');
    await expect(runMigrations({ databaseUrl: db.url, migrationsDir: dir })).rejects.toThrow(/20261230000000_bad failed/);
    const names = await queryRows<{ migration_name: string }>(db.url, 'SELECT migration_name FROM "_prisma_migrations"');
    expect(names.map((r) => r.migration_name).sort()).toEqual(ALL);
    const half = await queryRows(db.url, `SELECT 1 FROM information_schema.tables WHERE table_name = 'half'`);
    expect(half).toEqual([]);
  });
});
