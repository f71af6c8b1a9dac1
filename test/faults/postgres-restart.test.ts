/**
 * PostgreSQL restarted (a cluster of the test's own, never the machine's shared server): the
 * services keep serving what they can, report unready meanwhile, recover without a restart, and
 * lose no job — a file fetched while PostgreSQL was down ends up recorded once it is back, even
 * when the outage outlasts the fetch job's retry budget.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel, type BuiltDist } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { artifactRows, getBytes, getText, sleep, storedBlobs, waitFor } from './support/helpers.js';
import { PgCluster } from './support/pg-cluster.js';

/** Longer than the fetch job's own retries (1 + 2 + 4 + 8 s of backoff). */
const OUTAGE_MS = 20_000;

describe('PostgreSQL restarted', () => {
  const upstream = new FakeUpstream();
  let cluster: PgCluster;
  let orchard: OrchardProcesses;
  const wheels = new Map<string, BuiltDist>();
  let databaseUrl: string;

  const fileUrl = (name: string) => `${orchard.gatewayUrl}/files/${name}/${wheels.get(name)!.sha256}/${wheels.get(name)!.filename}`;
  const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
  const ready = async (port: number) => {
    const res = await getText(`http://127.0.0.1:${port}/ready`, { timeoutMs: 10_000 });
    return { status: res.status, body: JSON.parse(res.text) as { checks: Record<string, { status: string; error?: string }> } };
  };

  beforeAll(async () => {
    for (const name of ['warm', 'during-outage', 'after-outage']) {
      const wheel = await buildWheel({ name, version: '1.0.0' });
      wheels.set(name, wheel);
      upstream.publish(name, { filename: wheel.filename, bytes: wheel.bytes });
    }
    await upstream.start();
    cluster = await PgCluster.create();
    databaseUrl = cluster.url('orchard_faults');
    orchard = await OrchardProcesses.start({
      upstreams: `local=${upstream.url}`,
      services: ['gateway', 'fetcher'],
      env: { DATABASE_URL: databaseUrl, ORCHARD_FETCH_WAIT_MS: '3000' },
    });
  }, 180_000);

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    await orchard?.stop();
    await cluster?.destroy();
    await upstream.stop();
  });

  it('serves, reports unready, recovers and records the file fetched during the outage', async () => {
    // Warm: one page and one file cached and recorded.
    expect((await getText(`${orchard.gatewayUrl}/simple/warm/`)).status).toBe(200);
    expect((await getBytes(fileUrl('warm'))).status).toBe(200);
    await waitFor('the warm artifact row', async () => ((await artifactRows(databaseUrl, wheels.get('warm')!.sha256)).length === 1 ? true : undefined));

    await cluster.stop();
    const downSince = Date.now();
    try {
      for (const port of [orchard.ports.gateway, orchard.ports.fetcher]) {
        const { status, body } = await ready(port);
        expect(status).toBe(503);
        expect(body.checks.postgres!.status).toBe('error');
        expect(body.checks.redis!.status).toBe('ok');
        expect(JSON.stringify(body)).not.toContain(databaseUrl);
      }
      // What needs no database keeps working: the warm page and file, a cold page, a cold file.
      expect((await getText(`${orchard.gatewayUrl}/simple/warm/`)).status).toBe(200);
      const warm = await getBytes(fileUrl('warm'));
      expect(warm.status).toBe(200);
      expect(sha(warm.bytes)).toBe(wheels.get('warm')!.sha256);
      expect((await getText(`${orchard.gatewayUrl}/simple/during-outage/`)).status).toBe(200);
      const cold = await getBytes(fileUrl('during-outage'));
      expect(cold.status).toBe(200);
      expect(sha(cold.bytes)).toBe(wheels.get('during-outage')!.sha256);
      // Served from storage as soon as the fetcher had verified and stored it, although its job is
      // still waiting for PostgreSQL to record it: not streamed from upstream a second time.
      expect(cold.headers.get('x-orchard-cache')).not.toBe('pass-through');
      // The bytes were verified and stored; only the record waits for PostgreSQL.
      await waitFor('the blob', async () => ((await storedBlobs(orchard.dataDir)).includes(wheels.get('during-outage')!.sha256) ? true : undefined), 10_000);
      await sleep(Math.max(0, OUTAGE_MS - (Date.now() - downSince)));
      expect((await ready(orchard.ports.gateway)).status).toBe(503);
    } finally {
      await cluster.start();
    }

    // Recovery without a restart.
    for (const port of [orchard.ports.gateway, orchard.ports.fetcher]) {
      await waitFor(`/ready on ${port}`, async () => ((await ready(port)).status === 200 ? true : undefined), 30_000, 500);
    }
    // No job lost: the file fetched during the outage is recorded, exactly once.
    await waitFor(
      'the artifact fetched during the outage to be recorded',
      async () => ((await artifactRows(databaseUrl, wheels.get('during-outage')!.sha256)).length === 1 ? true : undefined),
      30_000,
      500,
    );
    const after = await getBytes(fileUrl('after-outage'));
    expect(after.status).toBe(200);
    await waitFor('the artifact fetched after the outage', async () => ((await artifactRows(databaseUrl, wheels.get('after-outage')!.sha256)).length === 1 ? true : undefined));
    expect(orchard.children.get('gateway')?.exitCode).toBeNull();
    expect(orchard.children.get('fetcher')?.exitCode).toBeNull();
    // One download per file: serving it during the outage and recording it after did not fetch the bytes again.
    expect(upstream.fileRequests().filter((r) => r.path.includes('during_outage')).length).toBe(1);
  });
});
