import { mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { runPip } from '../support/pip.js';
import { RedisClusterServers } from '../support/redis-cluster.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { waitFor } from '../support/wait.js';

/** cl-app and the ten libraries it requires: eleven files, each its own page. */
const LIBS = Array.from({ length: 10 }, (_, i) => `cl-lib-${i}`);
const TOKEN = 'cluster-admin-token';

describe('Orchard on a Redis Cluster (REDIS_URL=redis+cluster://…)', () => {
  const upstream = new FakeUpstream();
  let cluster: RedisClusterServers;
  let orchard: OrchardProcesses;
  let db: pg.Client;
  let prefix = '';
  const files = new Map<string, string>();

  beforeAll(async () => {
    cluster = await RedisClusterServers.start();
    upstream.format = 'html';
    for (const name of ['cl-app', ...LIBS]) {
      const wheel = await buildWheel({ name, version: '1.0.0', requiresDist: name === 'cl-app' ? LIBS : [] });
      upstream.publish(name, { filename: wheel.filename, bytes: wheel.bytes });
      files.set(wheel.filename, wheel.sha256);
    }
    await upstream.start();
    orchard = await OrchardProcesses.start({
      upstreams: `local=${upstream.url}`,
      env: { REDIS_URL: cluster.url, ORCHARD_JOB_STALLED_MS: '1000', ORCHARD_ADMIN_TOKEN: TOKEN },
    });
    prefix = orchard.env['ORCHARD_QUEUE_PREFIX']!;
    db = new pg.Client({ connectionString: orchard.database.url });
    await db.connect();
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) console.log(orchard?.allLogs());
    await db?.end();
    await orchard?.stop();
    await upstream.stop();
    await cluster?.stop();
  });

  it('installs cold while the master of the queues fails over, losing nothing', async () => {
    // Slow answers keep the install going long enough for the failover to land in the middle of it.
    upstream.mode = 'slow';
    upstream.slowMs = 150;
    const target = await mkdtemp(path.join(os.tmpdir(), 'orchard-cluster-pip-'));
    const install = runPip(['install', '--index-url', `${orchard.gatewayUrl}/simple/`, '--target', target, 'cl-app'], { timeoutMs: 120_000 });
    await waitFor('the first file download', () => (upstream.requests.some((r) => r.path.endsWith('.whl')) ? true : undefined), 60_000, 20);
    const failover = await cluster.failoverMasterOf(`{${prefix}}:fetch:wait`);
    const result = await install;
    upstream.mode = 'ok';
    expect(result.code, `${result.stderr}\n${orchard.allLogs().slice(-4000)}`).toBe(0);
    expect(failover.from).not.toBe(failover.to);
    // The failover happened while files were still being fetched.
    const wheelsAfter = upstream.requests.filter((r) => r.path.endsWith('.whl'));
    expect(wheelsAfter.length).toBe(files.size);
    const installed = await readdir(target);
    for (const name of ['cl_app', ...LIBS.map((l) => l.replaceAll('-', '_'))]) expect(installed).toContain(name);
    // Every file came from the upstream through Orchard, once.
    for (const filename of files.keys())
      expect(
        upstream.requests.filter((r) => r.path.endsWith(`/${filename}`)),
        filename,
      ).toHaveLength(1);
    // Every file recorded and extracted: no fetch or extract job was lost in the failover.
    await waitFor(
      'every artifact extracted',
      async () => {
        const { rows } = await db.query<{ sha: string }>(`SELECT artifact_sha256 AS sha FROM release WHERE metadata_status = 'ok'`);
        return rows.length === files.size ? rows : undefined;
      },
      60_000,
      200,
    );
    const { rows } = await db.query<{ sha: string }>(`SELECT sha256 AS sha FROM artifact`);
    expect(rows.map((r) => r.sha).sort()).toEqual([...files.values()].sort());
  });

  it('keeps every queue key in one slot and spreads the cache over the masters', async () => {
    const queueKeys = await cluster.keys(`{${prefix}}:*`);
    expect(queueKeys.some((k) => k.key.startsWith(`{${prefix}}:fetch:`))).toBe(true);
    expect(new Set(queueKeys.map((k) => k.port)).size).toBe(1);
    const cacheKeys = await cluster.keys(`${orchard.env['ORCHARD_CACHE_PREFIX']}:*`);
    expect(new Set(cacheKeys.map((k) => k.port)).size).toBeGreaterThan(1);
  });

  it('serves the root list and drops every page from every master on an admin purge', async () => {
    const root = await fetch(`${orchard.gatewayUrl}/simple/`);
    expect(root.status).toBe(200);
    expect(await root.text()).toContain('cl-lib-9');
    const cachePrefix = orchard.env['ORCHARD_CACHE_PREFIX']!;
    const before = await cluster.keys(`${cachePrefix}:index:*`);
    expect(new Set(before.map((k) => k.port)).size).toBeGreaterThan(1);
    const purge = await fetch(`${orchard.gatewayUrl}/api/v1/admin/cache/pages`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(purge.status).toBe(200);
    expect(((await purge.json()) as { dropped: number }).dropped).toBeGreaterThanOrEqual(before.length);
    expect(await cluster.keys(`${cachePrefix}:index:*`)).toEqual([]);
    // Served again from the upstream (pages) and storage (files), warm.
    const target = await mkdtemp(path.join(os.tmpdir(), 'orchard-cluster-pip-'));
    const downloads = upstream.requests.filter((r) => r.path.endsWith('.whl')).length;
    const result = await runPip(['install', '--index-url', `${orchard.gatewayUrl}/simple/`, '--target', target, 'cl-app']);
    expect(result.code, result.stderr).toBe(0);
    expect(upstream.requests.filter((r) => r.path.endsWith('.whl'))).toHaveLength(downloads);
  });
});
