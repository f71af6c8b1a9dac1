/**
 * Redis stopped and started again under running services (a redis-server of the test's own; the
 * shared one is never touched): pages and files keep being served while it is down, and caching
 * and queueing resume by themselves when it returns, without restarting Orchard.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel, type BuiltDist } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { OwnRedisServer } from '../support/redis.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { blobPath, exists, fileUrl, get, sha256, waitFor } from './helpers.js';

describe('Redis stopped and restarted', () => {
  const upstream = new FakeUpstream();
  let redis: OwnRedisServer;
  let orchard: OrchardProcesses;
  const wheels: BuiltDist[] = [];
  let pids: Array<number | undefined> = [];
  const page = () => get(`${orchard.gatewayUrl}/simple/steady-lib/`);
  const file = (wheel: BuiltDist) => get(fileUrl(orchard.gatewayUrl, 'steady-lib', wheel.sha256, wheel.filename));

  beforeAll(async () => {
    for (const version of ['1.0', '1.1', '1.2']) {
      const wheel = await buildWheel({ name: 'steady-lib', version });
      wheels.push(wheel);
      upstream.publish('steady-lib', { filename: wheel.filename, bytes: wheel.bytes });
    }
    await upstream.start();
    redis = await OwnRedisServer.start();
    orchard = await OrchardProcesses.start({
      upstreams: `local=${upstream.url}`,
      services: ['gateway', 'fetcher'],
      env: { REDIS_URL: redis.url, ORCHARD_FETCH_WAIT_MS: '10000' },
    });
    pids = [...orchard.children.values()].map((c) => c.pid);
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) console.log(orchard?.allLogs());
    await orchard?.stop();
    await redis?.stop();
    await upstream.stop();
  });

  it('caches pages and files while Redis is up', async () => {
    expect((await page()).headers.get('x-orchard-cache')).toBe('miss');
    expect((await page()).headers.get('x-orchard-cache')).toBe('hit');
    const first = await file(wheels[0]!);
    expect(first.status).toBe(200);
    // Downloaded now: served from the fetcher's verified download, stored a moment later.
    expect(first.headers.get('x-orchard-cache')).toBe('miss');
    await waitFor('the file stored', async () => ((await exists(blobPath(orchard.dataDir, wheels[0]!.sha256))) ? true : undefined));
    expect((await file(wheels[0]!)).headers.get('x-orchard-cache')).toBeNull();
  });

  it('keeps serving pages (from upstream) and files (from storage, or passed through) while Redis is down', async () => {
    await redis.stop();
    const before = upstream.requestsFor('/simple/steady-lib/').length;
    const served = await page();
    expect(served.status).toBe(200);
    expect(served.headers.get('x-orchard-cache')).toBe('uncached');
    expect(served.text).toContain(wheels[2]!.filename);
    expect(upstream.requestsFor('/simple/steady-lib/').length).toBeGreaterThan(before);

    const cached = await file(wheels[0]!);
    expect(cached.status).toBe(200);
    expect(sha256(cached.body)).toBe(wheels[0]!.sha256);

    const passed = await file(wheels[1]!);
    expect(passed.status).toBe(200);
    expect(passed.headers.get('x-orchard-cache')).toBe('pass-through');
    expect(sha256(passed.body)).toBe(wheels[1]!.sha256);

    const ready = await get(`${orchard.gatewayUrl}/ready`);
    expect(ready.status).toBe(503);
    expect((await get(`${orchard.gatewayUrl}/health`)).status).toBe(200);
  });

  it('resumes caching and queueing once Redis is back, without restarting any service', async () => {
    await redis.start();
    // The page is cached again (Redis came back empty): a miss fills it, then hits.
    await waitFor('the page cached again', async () => ((await page()).headers.get('x-orchard-cache') === 'hit' ? true : undefined), 30_000, 200);
    // The queue works again: a new file goes through its fetch job into storage.
    const fetched = await waitFor(
      'a file fetched through the queue',
      async () => {
        const r = await file(wheels[2]!);
        return r.status === 200 && r.headers.get('x-orchard-cache') === null ? r : undefined;
      },
      30_000,
      200,
    );
    expect(sha256(fetched.body)).toBe(wheels[2]!.sha256);
    expect(await exists(blobPath(orchard.dataDir, wheels[2]!.sha256))).toBe(true);
    expect((await get(`${orchard.gatewayUrl}/ready`)).status).toBe(200);
    // Same processes as at the start: nothing was restarted.
    expect([...orchard.children.values()].map((c) => c.pid)).toEqual(pids);
    expect([...orchard.children.values()].every((c) => c.exitCode === null)).toBe(true);
  });
});
