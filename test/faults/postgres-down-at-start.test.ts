/**
 * PostgreSQL down when the services start (a cluster of the test's own, never the machine's shared
 * server): after a run that warmed Redis and storage, the three services are restarted while
 * PostgreSQL is stopped. They start, real pip installs cached projects (and a cold one) through
 * the gateway, `/ready` is 503 naming postgres with a reason, the JSON API answers 503; once
 * PostgreSQL starts, every service turns ready without a restart and the API answers. A database
 * that does not exist yet is created and migrated once PostgreSQL appears.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel, type BuiltDist } from '../support/dists.js';
import { OrchardProcesses, type ServiceName } from '../support/orchard.js';
import { runPip } from '../support/pip.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { artifactRows, getText, query, waitFor } from './support/helpers.js';
import { PgCluster } from './support/pg-cluster.js';

const SERVICES: ServiceName[] = ['gateway', 'fetcher', 'extractor'];

interface ReadyBody {
  status: string;
  degraded?: string[];
  checks: Record<string, { status: string; error?: string }>;
}

describe('PostgreSQL down when the services start', () => {
  const upstream = new FakeUpstream();
  let cluster: PgCluster;
  let orchard: OrchardProcesses | undefined;
  let fresh: OrchardProcesses | undefined;
  const wheels = new Map<string, BuiltDist>();
  let databaseUrl: string;
  const targets: string[] = [];

  const ready = async (o: OrchardProcesses, service: ServiceName) => {
    const res = await getText(`http://127.0.0.1:${o.ports[service]}/ready`, { timeoutMs: 10_000 });
    return { status: res.status, body: JSON.parse(res.text) as ReadyBody };
  };

  async function pipInstall(project: string): Promise<{ code: number; output: string; installed: string[] }> {
    const target = await mkdtemp(path.join(os.tmpdir(), 'orchard-pg-start-pip-'));
    targets.push(target);
    const result = await runPip(['install', '--retries', '0', '--timeout', '30', '--index-url', `${orchard!.gatewayUrl}/simple/`, '--target', target, project], {
      timeoutMs: 90_000,
    });
    return { code: result.code, output: result.stdout + result.stderr, installed: result.code === 0 ? await readdir(target) : [] };
  }

  const artifactApi = (sha256: string) => getText(`${orchard!.gatewayUrl}/api/v1/artifacts/${sha256}`, { timeoutMs: 15_000 });

  beforeAll(async () => {
    const specs = [
      { name: 'start-app', version: '1.0.0', requiresDist: ['start-lib>=1'] },
      { name: 'start-lib', version: '1.2.0' },
      { name: 'start-cold', version: '2.0.0' },
    ];
    for (const spec of specs) {
      const wheel = await buildWheel(spec);
      wheels.set(spec.name, wheel);
      upstream.publish(spec.name, { filename: wheel.filename, bytes: wheel.bytes });
    }
    await upstream.start();
    cluster = await PgCluster.create();
    databaseUrl = cluster.url('orchard_start_faults');
    orchard = await OrchardProcesses.start({ upstreams: `local=${upstream.url}`, env: { DATABASE_URL: databaseUrl } });
  }, 180_000);

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const o of [orchard, fresh]) for (const [name, log] of Object.entries(o?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    await cluster?.start().catch(() => undefined);
    await fresh?.stop();
    await orchard?.stop();
    await cluster?.destroy();
    await upstream.stop();
    for (const target of targets) await rm(target, { recursive: true, force: true });
  });

  it('starts, serves warm installs, reports postgres, answers the API with 503, and recovers without a restart', async () => {
    const o = orchard!;
    // Warm run with PostgreSQL up: pages, files and metadata cached, artifacts recorded and extracted.
    const warm = await pipInstall('start-app');
    expect(warm.code, warm.output).toBe(0);
    const appSha = wheels.get('start-app')!.sha256;
    await waitFor('start-app extracted', async () => ((await artifactApi(appSha)).status === 200 ? true : undefined), 30_000, 250);

    for (const service of SERVICES) expect(await o.stopService(service)).toBe(0);
    await cluster.stop();
    try {
      // Old behaviour: every service ran its migrations first and exited on ECONNREFUSED.
      for (const service of SERVICES) await o.startService(service);

      const again = await pipInstall('start-app');
      expect(again.code, again.output).toBe(0);
      expect(again.installed).toEqual(expect.arrayContaining(['start_app', 'start_lib']));
      // A cold project too: its page comes from upstream, its file through a fetch job that waits
      // to record the verified file until PostgreSQL is back.
      const cold = await pipInstall('start-cold');
      expect(cold.code, cold.output).toBe(0);

      for (const service of SERVICES) {
        const { status, body } = await ready(o, service);
        expect(status, service).toBe(503);
        expect(body.status).toBe('unready');
        expect(body.degraded, service).toEqual(expect.arrayContaining(['postgres', 'migrations']));
        expect(body.checks.postgres!.status).toBe('error');
        expect(body.checks.postgres!.error, `${service}: a reason`).toMatch(/\S/);
        expect(body.checks.migrations!.status).toBe('pending');
        expect(body.checks.migrations!.error).toMatch(/^migrations pending: \S/);
        expect(body.checks.redis!.status).toBe('ok');
        expect(body.checks.storage!.status).toBe('ok');
        expect(JSON.stringify(body)).not.toContain('postgresql://');
      }

      const api = await artifactApi(appSha);
      expect(api.status, api.text).toBe(503);
      expect(api.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(JSON.parse(api.text)).toEqual({ error: { code: 'database_unavailable', message: expect.stringMatching(/database is unavailable/) } });
      expect(o.allLogs()).toContain('database not migrated yet; retrying in the background');
    } finally {
      await cluster.start();
    }

    for (const service of SERVICES) {
      await waitFor(`${service} ready again`, async () => ((await ready(o, service)).status === 200 ? true : undefined), 40_000, 500);
      expect(o.children.get(service)?.exitCode, `${service} still runs`).toBeNull();
    }
    const api = await artifactApi(appSha);
    expect(api.status, api.text).toBe(200);
    expect(JSON.parse(api.text)).toMatchObject({ filename: wheels.get('start-app')!.filename });
    // The file fetched while PostgreSQL was down is recorded, and extracted, once it is back.
    const coldSha = wheels.get('start-cold')!.sha256;
    await waitFor('start-cold recorded', async () => ((await artifactRows(databaseUrl, coldSha)).length === 1 ? true : undefined), 30_000, 250);
    await waitFor('start-cold extracted', async () => ((await artifactApi(coldSha)).status === 200 ? true : undefined), 30_000, 250);
  });

  it('creates and migrates a database that does not exist yet once PostgreSQL appears', async () => {
    const freshUrl = cluster.url('orchard_start_fresh');
    await cluster.stop();
    try {
      fresh = await OrchardProcesses.start({ upstreams: `local=${upstream.url}`, services: ['gateway', 'extractor'], env: { DATABASE_URL: freshUrl } });
      const { status, body } = await ready(fresh, 'gateway');
      expect(status).toBe(503);
      expect(body.checks.migrations!.status).toBe('pending');
      // SIGTERM while the migration is still being retried: a clean, prompt exit (not the timeout).
      const stopping = Date.now();
      expect(await fresh.stopService('extractor')).toBe(0);
      expect(Date.now() - stopping).toBeLessThan(5_000);
      expect(fresh.logs.extractor).toContain('shut down cleanly');
      await fresh.startService('extractor');
    } finally {
      await cluster.start();
    }
    for (const service of ['gateway', 'extractor'] as const) {
      await waitFor(`${service} ready on the new database`, async () => ((await ready(fresh!, service)).status === 200 ? true : undefined), 40_000, 500);
    }
    const migrations = await query<{ migration_name: string; finished_at: Date | null }>(freshUrl, 'SELECT migration_name, finished_at FROM "_prisma_migrations"');
    expect(migrations.length).toBeGreaterThan(0);
    expect(new Set(migrations.map((m) => m.migration_name)).size, 'each migration applied once').toBe(migrations.length);
    expect(migrations.every((m) => m.finished_at !== null)).toBe(true);
    const api = await getText(`${fresh!.gatewayUrl}/api/v1/artifacts/${'0'.repeat(64)}`);
    expect(api.status).toBe(404);
  });
});
