/**
 * One upstream request per burst: 50 concurrent cold requests for one page (split over two gateway
 * replicas) cause one upstream page request; 50 for one file cause one download and 50 correct
 * bodies; a failing upstream is asked once for a burst, every request getting the reason.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel, type BuiltDist } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { scrape, scrapeAtLeast, valueOf } from '../support/prometheus.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { blobPath, exists, fileUrl, get, sha256, waitFor } from './helpers.js';

const BURST = 50;

describe('single flight across gateway replicas', () => {
  const upstream = new FakeUpstream();
  let orchard: OrchardProcesses;
  let replica: string;
  let wheel: BuiltDist;
  /** The gateway for the i-th request: alternately the first and the second replica. */
  const gateway = (i: number) => (i % 2 === 0 ? orchard.gatewayUrl : replica);

  beforeAll(async () => {
    wheel = await buildWheel({ name: 'burst-lib', version: '1.0', padBytes: 512 * 1024 });
    upstream.publish('burst-lib', { filename: wheel.filename, bytes: wheel.bytes });
    await upstream.start();
    orchard = await OrchardProcesses.start({
      upstreams: `local=${upstream.url}`,
      services: ['gateway', 'fetcher'],
      // Every request must wait for the one shared job (a pass-through would be a second download).
      env: { ORCHARD_FETCH_WAIT_MS: '60000' },
    });
    replica = await orchard.startGatewayReplica();
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) console.log(orchard?.allLogs());
    await orchard?.stop();
    await upstream.stop();
  });

  it(`${BURST} concurrent cold requests for one page over two replicas: one upstream request, one page for all`, async () => {
    // A slow upstream answer, so that every request arrives while the first is still waiting for it.
    upstream.mode = 'slow';
    upstream.slowMs = 500;
    let answers;
    try {
      answers = await Promise.all(Array.from({ length: BURST }, (_, i) => get(`${gateway(i)}/simple/burst-lib/`)));
    } finally {
      upstream.mode = 'ok';
    }
    expect(upstream.requestsFor('/simple/burst-lib/')).toHaveLength(1);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.text).toContain(wheel.filename);
      expect(answer.headers.get('etag')).toBe(answers[0]!.headers.get('etag'));
    }
  });

  it(`${BURST} concurrent cold requests for one file over two replicas: one upstream download, ${BURST} correct bodies`, async () => {
    upstream.fileFaults.set(wheel.filename, { kind: 'slow', chunkBytes: 64 * 1024, intervalMs: 40 });
    let answers;
    try {
      answers = await Promise.all(Array.from({ length: BURST }, (_, i) => get(fileUrl(gateway(i), 'burst-lib', wheel.sha256, wheel.filename))));
    } finally {
      upstream.fileFaults.delete(wheel.filename);
    }
    expect(upstream.requestsFor(`/files/${wheel.filename}`)).toHaveLength(1);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      // From the one download (followed at the fetcher) or from storage, never passed through from upstream.
      expect(answer.headers.get('x-orchard-cache') ?? 'storage').toMatch(/^(miss|storage)$/);
      expect(answer.body.length).toBe(wheel.bytes.length);
      expect(sha256(answer.body)).toBe(wheel.sha256);
    }
    await waitFor('the file stored', async () => ((await exists(blobPath(orchard.dataDir, wheel.sha256))) ? true : undefined));
  });

  it('a conditional request for a file still downloading is a 304: its ETag is its content', async () => {
    const slowWheel = await buildWheel({ name: 'etag-lib', version: '1.0', padBytes: 2 * 1024 * 1024 });
    upstream.publish('etag-lib', { filename: slowWheel.filename, bytes: slowWheel.bytes });
    expect((await get(`${orchard.gatewayUrl}/simple/etag-lib/`)).status).toBe(200);
    // At least 3 s of body: the conditional request below arrives while the one download runs.
    upstream.fileFaults.set(slowWheel.filename, { kind: 'slow', chunkBytes: 64 * 1024, intervalMs: 100 });
    const url = fileUrl(orchard.gatewayUrl, 'etag-lib', slowWheel.sha256, slowWheel.filename);
    try {
      const first = get(url);
      await waitFor('the download started', async () => (upstream.requestsFor(`/files/${slowWheel.filename}`).length === 1 ? true : undefined));
      const conditional = await get(url, { headers: { 'if-none-match': `"${slowWheel.sha256}"` } });
      expect(conditional.status).toBe(304);
      expect(conditional.headers.get('etag')).toBe(`"${slowWheel.sha256}"`);
      expect(conditional.headers.get('x-orchard-cache')).toBe('miss');
      expect(conditional.body.length).toBe(0);
      expect(sha256((await first).body)).toBe(slowWheel.sha256);
    } finally {
      upstream.fileFaults.delete(slowWheel.filename);
    }
    expect(upstream.requestsFor(`/files/${slowWheel.filename}`)).toHaveLength(1);
  });

  it('a burst in one gateway process gets a small file from one read of the verified download, without waiting for the store', async () => {
    const served = async (source: string) => valueOf(await scrape(orchard.gatewayUrl), 'orchard_bytes_served_total', { source });
    const servedAtLeast = (source: string, bytes: number) => scrapeAtLeast(orchard.gatewayUrl, 'orchard_bytes_served_total', { source }, bytes);
    const herdWheel = await buildWheel({ name: 'herd-lib', version: '1.0', padBytes: 256 * 1024 });
    const loneWheel = await buildWheel({ name: 'lone-lib', version: '1.0', padBytes: 256 * 1024 });
    for (const [name, w] of [
      ['herd-lib', herdWheel],
      ['lone-lib', loneWheel],
    ] as const) {
      upstream.publish(name, { filename: w.filename, bytes: w.bytes });
      expect((await get(`${orchard.gatewayUrl}/simple/${name}/`)).status).toBe(200);
      // Slow enough that the whole burst is waiting before the download is verified.
      upstream.fileFaults.set(w.filename, { kind: 'slow', chunkBytes: 64 * 1024, intervalMs: 60 });
    }
    const before = { fetcher: await served('fetcher'), storage: await served('storage') };
    const herdUrl = fileUrl(orchard.gatewayUrl, 'herd-lib', herdWheel.sha256, herdWheel.filename);
    let answers;
    try {
      answers = await Promise.all(Array.from({ length: 20 }, () => get(herdUrl)));
    } finally {
      upstream.fileFaults.delete(herdWheel.filename);
    }
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.headers.get('x-orchard-cache')).toBe('miss');
      expect(sha256(answer.body)).toBe(herdWheel.sha256);
    }
    expect(upstream.requestsFor(`/files/${herdWheel.filename}`)).toHaveLength(1);
    const herdBytes = before.fetcher + 20 * herdWheel.bytes.length;
    expect(await servedAtLeast('fetcher', herdBytes)).toBe(herdBytes);
    expect(await served('storage')).toBe(before.storage);

    try {
      const lone = await get(fileUrl(orchard.gatewayUrl, 'lone-lib', loneWheel.sha256, loneWheel.filename));
      expect(sha256(lone.body)).toBe(loneWheel.sha256);
    } finally {
      upstream.fileFaults.delete(loneWheel.filename);
    }
    expect(await servedAtLeast('fetcher', herdBytes + loneWheel.bytes.length)).toBe(herdBytes + loneWheel.bytes.length);
  });

  it(`${BURST} concurrent cold requests while the upstream fails: asked once, every request gets 502 with the reason`, async () => {
    upstream.pageOverrides.set('broken-lib', { status: 503, contentType: 'text/plain', body: 'maintenance' });
    // Slow enough that every request arrives before the failure (one arriving later asks again).
    upstream.mode = 'slow';
    upstream.slowMs = 1500;
    let answers;
    try {
      answers = await Promise.all(Array.from({ length: BURST }, (_, i) => get(`${gateway(i)}/simple/broken-lib/`)));
    } finally {
      upstream.mode = 'ok';
      upstream.pageOverrides.delete('broken-lib');
    }
    expect(upstream.requestsFor('/simple/broken-lib/')).toHaveLength(1);
    for (const answer of answers) {
      expect(answer.status).toBe(502);
      expect(answer.text).toMatch(/upstream local answered 503/);
    }
    // Failures are not cached: the next request asks again and succeeds once the upstream is back.
    const wheel2 = await buildWheel({ name: 'broken-lib', version: '1.0' });
    upstream.publish('broken-lib', { filename: wheel2.filename, bytes: wheel2.bytes });
    expect((await get(`${orchard.gatewayUrl}/simple/broken-lib/`)).status).toBe(200);
  });
});
