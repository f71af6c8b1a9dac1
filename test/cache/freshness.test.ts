/**
 * Freshness and stale serving against a controllable upstream: pages fresh for ORCHARD_INDEX_TTL,
 * then served stale while a refresh job revalidates them conditionally; stale-if-error; 502/504
 * with a reason when nothing is cached; missing projects remembered briefly; a slow file streamed
 * straight from upstream while its fetch job completes the cached copy; no open proxy.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel, type BuiltDist } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { blobPath, exists, fileUrl, get, sha256, waitFor } from './helpers.js';

describe('page freshness, stale serving and file pass-through', () => {
  const upstream = new FakeUpstream();
  let orchard: OrchardProcesses;
  let v1: BuiltDist;
  let slow: BuiltDist;
  let slowTwo: BuiltDist;
  const page = (project: string, init?: RequestInit) => get(`${orchard.gatewayUrl}/simple/${project}/`, init);
  const pageRequests = (project: string) => upstream.requestsFor(`/simple/${project}/`);

  beforeAll(async () => {
    v1 = await buildWheel({ name: 'fresh-lib', version: '1.0' });
    slow = await buildWheel({ name: 'slow-lib', version: '1.0', padBytes: 256 * 1024 });
    slowTwo = await buildWheel({ name: 'slow-lib', version: '2.0', padBytes: 256 * 1024 });
    upstream.publish('fresh-lib', { filename: v1.filename, bytes: v1.bytes });
    upstream.publish('slow-lib', { filename: slow.filename, bytes: slow.bytes });
    upstream.publish('slow-lib', { filename: slowTwo.filename, bytes: slowTwo.bytes });
    await upstream.start();
    orchard = await OrchardProcesses.start({
      upstreams: `local=${upstream.url}`,
      services: ['gateway', 'fetcher'],
      env: {
        // Short enough to watch pages turn stale, long enough for a loaded machine to see a hit first.
        ORCHARD_INDEX_TTL: '2',
        ORCHARD_MISSING_TTL: '2',
        ORCHARD_UPSTREAM_READ_TIMEOUT_MS: '1500',
        ORCHARD_FETCH_WAIT_MS: '400',
      },
    });
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) console.log(orchard?.allLogs());
    await orchard?.stop();
    await upstream.stop();
  });

  it('serves a page fresh for the TTL, then stale at once while a refresh revalidates it with If-None-Match; a 304 only renews freshness', async () => {
    const first = await page('fresh-lib');
    expect(first.status).toBe(200);
    expect(first.headers.get('x-orchard-cache')).toBe('miss');
    expect(first.headers.get('x-orchard-upstream')).toBe('local');
    expect(first.text).toContain(v1.filename);
    const etag = first.headers.get('etag');

    const second = await page('fresh-lib');
    expect(second.headers.get('x-orchard-cache')).toBe('hit');
    expect(pageRequests('fresh-lib')).toHaveLength(1);
    const upstreamEtag = pageRequests('fresh-lib')[0]!;
    expect(upstreamEtag.ifNoneMatch).toBeUndefined();

    // Past the TTL: the old page at once, marked stale; the refresh job revalidates in the background.
    const stale = await waitFor('a stale answer', async () => {
      const r = await page('fresh-lib');
      return r.headers.get('x-orchard-cache') === 'stale' ? r : undefined;
    });
    expect(stale.status).toBe(200);
    expect(stale.body.equals(first.body)).toBe(true);
    expect(stale.headers.get('etag')).toBe(etag);
    expect(Number(stale.headers.get('age'))).toBeGreaterThanOrEqual(1);
    expect(second.headers.get('age')).toBeNull();

    const conditional = await waitFor('a conditional revalidation', async () => pageRequests('fresh-lib').find((r) => r.ifNoneMatch));
    expect(conditional.ifNoneMatch).toMatch(/^"[0-9a-f]{16}"$/);
    expect(conditional.ifModifiedSince).toBeDefined();
    // The 304 renewed freshness only: a hit again, same body and ETag, no further upstream request.
    const renewed = await waitFor('the renewed page', async () => {
      const r = await page('fresh-lib');
      return r.headers.get('x-orchard-cache') === 'hit' ? r : undefined;
    });
    expect(renewed.body.equals(first.body)).toBe(true);
    expect(renewed.headers.get('etag')).toBe(etag);
  });

  it('shows a newly published version once the TTL has passed', async () => {
    const v2 = await buildWheel({ name: 'fresh-lib', version: '2.0' });
    upstream.publish('fresh-lib', { filename: v2.filename, bytes: v2.bytes });
    // Within the TTL (or stale while revalidating) the old page is what clients get.
    const before = await page('fresh-lib');
    expect(before.text).not.toContain(v2.filename);
    const after = await waitFor('the new version on the page', async () => {
      const r = await page('fresh-lib');
      return r.text.includes(v2.filename) ? r : undefined;
    });
    expect(after.status).toBe(200);
    expect(after.text).toContain(v1.filename);
    expect(after.headers.get('etag')).not.toBe(before.headers.get('etag'));
    // The change arrived through a conditional request that the upstream answered in full.
    expect(pageRequests('fresh-lib').filter((r) => r.ifNoneMatch).length).toBeGreaterThanOrEqual(2);
  });

  it('keeps serving the last good page while the upstream is down, marked stale-error once revalidation failed', async () => {
    const good = await waitFor('a fresh page', async () => {
      const r = await page('fresh-lib');
      return r.headers.get('x-orchard-cache') === 'hit' ? r : undefined;
    });
    await upstream.stop();
    try {
      const served = await waitFor('stale-error', async () => {
        const r = await page('fresh-lib');
        expect(r.status).toBe(200);
        expect(['hit', 'stale', 'stale-error']).toContain(r.headers.get('x-orchard-cache'));
        expect(r.body.equals(good.body)).toBe(true);
        return r.headers.get('x-orchard-cache') === 'stale-error' ? r : undefined;
      });
      expect(served.headers.get('etag')).toBe(good.headers.get('etag'));
      expect(Number(served.headers.get('age'))).toBeGreaterThanOrEqual(1);

      // Nothing cached and the upstream refuses connections: 502 with a one-line reason.
      const cold = await page('never-cached');
      expect(cold.status).toBe(502);
      expect(cold.text.trim().split('\n')).toHaveLength(1);
      expect(cold.text).toMatch(/upstream local is unreachable/);
    } finally {
      await upstream.start();
    }
  });

  it('answers 504 when the upstream times out and 502 naming the status when it fails, with nothing cached', async () => {
    upstream.mode = 'hang';
    try {
      const started = Date.now();
      const hung = await page('hangs-lib');
      expect(hung.status).toBe(504);
      expect(hung.text).toMatch(/upstream local timed out/);
      expect(hung.text.trim().split('\n')).toHaveLength(1);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      upstream.mode = 'ok';
    }
    upstream.mode = 'fail';
    try {
      const failed = await page('fails-lib');
      expect(failed.status).toBe(502);
      expect(failed.text).toMatch(/upstream local answered 500/);
    } finally {
      upstream.mode = 'ok';
    }
    // With the upstream back, the stale page is revalidated and fresh again.
    await waitFor('a fresh page after the outage', async () => {
      const r = await page('fresh-lib');
      return r.headers.get('x-orchard-cache') === 'hit' ? r : undefined;
    });
  });

  it('remembers a project no upstream has for ORCHARD_MISSING_TTL', async () => {
    const missing = await page('later-lib');
    expect(missing.status).toBe(404);
    expect(pageRequests('later-lib')).toHaveLength(1);
    const wheel = await buildWheel({ name: 'later-lib', version: '1.0' });
    upstream.publish('later-lib', { filename: wheel.filename, bytes: wheel.bytes });
    const still = await page('later-lib');
    expect(still.status).toBe(404);
    expect(still.headers.get('x-orchard-cache')).toBe('hit');
    expect(pageRequests('later-lib')).toHaveLength(1);
    const found = await waitFor('the project once the missing entry expired', async () => {
      const r = await page('later-lib');
      return r.status === 200 ? r : undefined;
    });
    expect(found.text).toContain(wheel.filename);
  });

  it('serves a slow file past ORCHARD_FETCH_WAIT_MS as it arrives at the fetcher: one upstream download', async () => {
    upstream.fileFaults.set(slow.filename, { kind: 'slow', chunkBytes: 32 * 1024, intervalMs: 100 });
    try {
      expect((await page('slow-lib')).status).toBe(200);
      const url = fileUrl(orchard.gatewayUrl, 'slow-lib', slow.sha256, slow.filename);
      const followed = await get(url);
      expect(followed.status).toBe(200);
      expect(followed.headers.get('x-orchard-cache')).toBe('miss');
      expect(followed.headers.get('content-length')).toBe(String(slow.bytes.length));
      expect(sha256(followed.body)).toBe(slow.sha256);

      const blob = blobPath(orchard.dataDir, slow.sha256);
      await waitFor('the cached copy', async () => ((await exists(blob)) ? true : undefined), 30_000);
      const cached = await get(url);
      expect(cached.status).toBe(200);
      expect(cached.headers.get('x-orchard-cache')).toBeNull();
      expect(sha256(cached.body)).toBe(slow.sha256);
      expect(upstream.requestsFor(`/files/${slow.filename}`)).toHaveLength(1);
    } finally {
      upstream.fileFaults.delete(slow.filename);
    }
  });

  it('streams a file straight from upstream when no fetcher takes its job within ORCHARD_FETCH_WAIT_MS, and the job completes the cached copy later', async () => {
    await orchard.stopService('fetcher');
    try {
      const url = fileUrl(orchard.gatewayUrl, 'slow-lib', slowTwo.sha256, slowTwo.filename);
      const started = Date.now();
      const passed = await get(url);
      expect(passed.status).toBe(200);
      expect(passed.headers.get('x-orchard-cache')).toBe('pass-through');
      expect(passed.headers.get('content-length')).toBe(String(slowTwo.bytes.length));
      expect(sha256(passed.body)).toBe(slowTwo.sha256);
      expect(Date.now() - started).toBeGreaterThan(400);
    } finally {
      await orchard.startService('fetcher');
    }
    const blob = blobPath(orchard.dataDir, slowTwo.sha256);
    await waitFor('the cached copy', async () => ((await exists(blob)) ? true : undefined), 30_000);
    // One download by the fetch job, one passed through: no more.
    expect(upstream.requestsFor(`/files/${slowTwo.filename}`)).toHaveLength(2);
  });

  it('fetches only files a configured upstream listed: any other file id is a 404 without an upstream request', async () => {
    expect((await page('fresh-lib')).status).toBe(200);
    const before = upstream.requests.length;
    const unknown = await get(fileUrl(orchard.gatewayUrl, 'fresh-lib', randomBytes(32).toString('hex'), v1.filename));
    expect(unknown.status).toBe(404);
    expect(unknown.text).toMatch(/not listed/);
    const wrongName = await get(fileUrl(orchard.gatewayUrl, 'fresh-lib', v1.sha256, 'fresh_lib-1.0-py2-none-any.whl'));
    expect(wrongName.status).toBe(404);
    const traversal = await get(`${orchard.gatewayUrl}/files/fresh-lib/${v1.sha256}/..%2F..%2Fetc%2Fpasswd`);
    expect([400, 404]).toContain(traversal.status);
    expect(upstream.requests.slice(before).filter((r) => r.path.startsWith('/files/'))).toHaveLength(0);
  });
});
