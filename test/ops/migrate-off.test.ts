/**
 * ORCHARD_MIGRATE=off, as in Kubernetes and docker-compose: the services never run DDL. Started
 * against a database that does not exist, they neither create it nor apply anything, and report
 * `migrations: pending` naming what they wait for; once migrate-cli (the migration Job) has run,
 * every service turns ready without a restart, and the extractor starts its worker only then.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrchardProcesses, type ServiceName } from '../support/orchard.js';
import { createTestDatabase, testServerUrl, type TestDatabase, queryRows } from '../support/postgres.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { waitFor } from './helpers.js';

const SERVICES: ServiceName[] = ['gateway', 'fetcher', 'extractor'];
const ROOT = path.resolve(import.meta.dirname, '..', '..');

interface ReadyBody {
  status: string;
  checks: Record<string, { status: string; error?: string }>;
}

describe('ORCHARD_MIGRATE=off: services never run DDL and wait for the migration Job', () => {
  const upstream = new FakeUpstream();
  let database: TestDatabase;
  let orchard: OrchardProcesses | undefined;
  let name = '';

  const ready = async (service: ServiceName): Promise<{ status: number; body: ReadyBody }> => {
    const res = await fetch(`http://127.0.0.1:${orchard!.ports[service]}/ready`);
    return { status: res.status, body: (await res.json()) as ReadyBody };
  };

  beforeAll(async () => {
    await upstream.start();
    database = await createTestDatabase({ create: false });
    name = new URL(database.url).pathname.slice(1);
    orchard = await OrchardProcesses.start({ upstreams: `local=${upstream.url}`, env: { DATABASE_URL: database.url, ORCHARD_MIGRATE: 'off' } });
  }, 180_000);

  afterAll(async () => {
    await orchard?.stop();
    await database?.drop();
    await upstream.stop();
  });

  it('creates nothing, reports pending until migrate-cli ran, then is ready without a restart', async () => {
    const server = await testServerUrl();
    for (const service of SERVICES) {
      const { status, body } = await ready(service);
      expect(status, service).toBe(503);
      expect(body.checks.migrations, service).toEqual({
        status: 'pending',
        error: `migrations pending: waiting for the migration Job (ORCHARD_MIGRATE=off): database ${name} does not exist yet`,
      });
    }
    // With ORCHARD_MIGRATE=auto the first attempt creates and migrates it before /health answers.
    expect(await queryRows(server, 'SELECT 1 FROM pg_database WHERE datname = $1', [name]), 'the database was not created').toEqual([]);

    // An administrator creates the empty database: the services still apply nothing.
    await queryRows(server, `CREATE DATABASE "${name}"`);
    for (const service of SERVICES) {
      await waitFor(
        `${service} sees the empty database`,
        async () => {
          const { body } = await ready(service);
          return /no migration applied yet/.test(body.checks.migrations?.error ?? '') ? true : undefined;
        },
        30_000,
        250,
      );
    }
    expect(await queryRows(database.url, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`), 'no DDL at all').toEqual([]);
    expect(orchard!.logs.extractor).not.toContain('extract worker started');

    // The migration Job.
    const job = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(ROOT, 'libs', 'db', 'migrate-cli.ts')], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: database.url },
    });
    expect(job.stdout).toMatch(/applied \d+ migration/);

    for (const service of SERVICES) {
      const { body } = await waitFor(
        `${service} ready`,
        async () => {
          const answer = await ready(service);
          return answer.status === 200 ? answer : undefined;
        },
        40_000,
        250,
      );
      expect(body.checks.migrations!.status).toBe('ok');
    }
    expect(orchard!.logs.extractor).toContain('extract worker started');
    for (const service of SERVICES) expect(await orchard!.stopService(service), `${service} shuts down cleanly`).toBe(0);
  }, 120_000);
});
