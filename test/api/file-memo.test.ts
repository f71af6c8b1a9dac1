/**
 * The gateway's in-process memo for files: small cached files and metadata files, once read whole
 * from storage, are answered from memory with exactly the headers and bytes of the answer from
 * storage; files over the entry bound are streamed from storage every time.
 */
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobKey, metadataKey } from '../../libs/storage/index.js';
import { buildWheel, type BuiltDist } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { scrape, scrapeAtLeast, valueOf } from '../support/prometheus.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { waitFor } from '../support/wait.js';

/** Headers that legitimately differ between two answers. */
function comparable(res: Response): Record<string, string> {
  const headers: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    if (name !== 'date' && name !== 'x-request-id' && name !== 'keep-alive' && name !== 'connection') headers[name] = value;
  });
  return headers;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('the in-process memo for small cached files', () => {
  const upstream = new FakeUpstream();
  let orchard: OrchardProcesses;
  let redis: Redis;
  let small: BuiltDist & { metadata: Buffer };
  let large: BuiltDist;
  const url = (project: string, file: BuiltDist) => `${orchard.gatewayUrl}/files/${project}/${file.sha256}/${file.filename}`;
  const fileRequests = (file: BuiltDist) => upstream.fileRequests().filter((r) => r.path.endsWith(`/${file.filename}`)).length;
  const metadataRequests = (file: BuiltDist) => upstream.fileRequests().filter((r) => r.path.endsWith(`/${file.filename}.metadata`)).length;
  /** Bytes the gateway has sent from the memo, as its metrics count them. */
  const bytesFromMemory = async () => valueOf(await scrape(orchard.gatewayUrl), 'orchard_bytes_served_total', { source: 'memory' });
  const bytesFromMemoryReach = (bytes: number, timeoutMs?: number) => scrapeAtLeast(orchard.gatewayUrl, 'orchard_bytes_served_total', { source: 'memory' }, bytes, timeoutMs);
  const fetchBytes = async (target: string, init?: RequestInit) => {
    const res = await fetch(target, init);
    return { res, body: Buffer.from(await res.arrayBuffer()) };
  };

  beforeAll(async () => {
    small = await buildWheel({ name: 'memo-file', version: '1.0.0' });
    // Over the entry bound of a 1 MiB memo (1/8 of it).
    large = await buildWheel({ name: 'memo-large', version: '1.0.0', padBytes: 300_000 });
    upstream.publish('memo-file', { filename: small.filename, bytes: small.bytes, metadata: small.metadata });
    upstream.publish('memo-large', { filename: large.filename, bytes: large.bytes });
    await upstream.start();
    orchard = await OrchardProcesses.start({
      upstreams: `local=${upstream.url}`,
      services: ['gateway', 'fetcher'],
      env: { ORCHARD_MEMO_BYTES: String(2 ** 20) },
    });
    redis = new Redis(orchard.env.REDIS_URL!);
    for (const project of ['memo-file', 'memo-large']) await fetch(`${orchard.gatewayUrl}/simple/${project}/`).then((r) => r.arrayBuffer());
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    redis?.disconnect();
    await orchard?.stop();
    await upstream.stop();
  });

  it('answers repeats of a small file with exactly what the first answer from storage sent', async () => {
    const cold = await fetchBytes(url('memo-file', small));
    expect(cold.res.status).toBe(200);
    // The first answers may come from the fetcher's verified download, a moment before the store has it.
    const fromStorage = await waitFor('an answer from storage', async () => {
      const answer = await fetchBytes(url('memo-file', small));
      return answer.res.headers.get('x-orchard-cache') === null ? answer : undefined;
    });
    // That answer may have been streamed from storage (a file known as stored but not yet by its
    // size is not read whole); the memo takes the first one read whole.
    const fromMemo = await waitFor('an answer from the memo', async () => {
      const before = await bytesFromMemory();
      const answer = await fetchBytes(url('memo-file', small));
      await bytesFromMemoryReach(before + small.bytes.length, 2_000);
      return answer;
    });
    expect(fromMemo.res.status).toBe(200);
    expect(sha256(fromMemo.body)).toBe(small.sha256);
    expect(comparable(fromMemo.res)).toEqual(comparable(fromStorage.res));
    expect(fromMemo.res.headers.get('x-request-id')).toBeTruthy();
    expect(fileRequests(small)).toBe(1);
  });

  it('serves 304, HEAD and ranges with the usual semantics', async () => {
    const etag = `"${small.sha256}"`;
    const notModified = await fetch(url('memo-file', small), { headers: { 'if-none-match': etag } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get('etag')).toBe(etag);
    expect(notModified.headers.get('content-length')).toBeNull();
    const head = await fetch(url('memo-file', small), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(small.bytes.length));
    const range = await fetchBytes(url('memo-file', small), { headers: { range: 'bytes=10-19' } });
    expect(range.res.status).toBe(206);
    expect(range.res.headers.get('content-range')).toBe(`bytes 10-19/${small.bytes.length}`);
    expect(range.body.equals(small.bytes.subarray(10, 20))).toBe(true);
  });

  it('never serves the remembered bytes under another file name', async () => {
    // Without the artifact cache's record, the gateway checks the name against the listing.
    await redis.del(`${orchard.env.ORCHARD_CACHE_PREFIX}:artifact:pypi:${small.sha256}`);
    const renamed = small.filename.replace('1.0.0', '9.9.9');
    const res = await fetch(`${orchard.gatewayUrl}/files/memo-file/${small.sha256}/${renamed}`);
    expect(res.status).toBe(404);
    const metadata = await fetch(`${orchard.gatewayUrl}/files/memo-file/${small.sha256}/${renamed}.metadata`);
    expect(metadata.status).toBe(404);
  });

  it('answers repeats of a metadata file with exactly what the first answer from storage sent', async () => {
    const metadataUrl = `${url('memo-file', small)}.metadata`;
    const fromUpstream = await fetchBytes(metadataUrl);
    expect(fromUpstream.res.headers.get('x-orchard-cache')).toBe('miss');
    const fromStorage = await fetchBytes(metadataUrl);
    expect(fromStorage.res.headers.get('x-orchard-cache')).toBe('hit');
    const fromMemo = await fetchBytes(metadataUrl);
    expect(fromMemo.body.equals(small.metadata)).toBe(true);
    expect(comparable(fromMemo.res)).toEqual(comparable(fromStorage.res));
    expect(metadataRequests(small)).toBe(1);
  });

  it('really answers from memory: storage and the artifact cache lost them, the memo still serves the verified bytes', async () => {
    await rm(path.join(orchard.dataDir, blobKey(small.sha256)));
    await rm(path.join(orchard.dataDir, metadataKey(sha256(small.metadata))));
    await redis.del(`${orchard.env.ORCHARD_CACHE_PREFIX}:artifact:pypi:${small.sha256}`);
    const before = await bytesFromMemory();
    const file = await fetchBytes(url('memo-file', small));
    expect(file.res.status).toBe(200);
    expect(sha256(file.body)).toBe(small.sha256);
    const metadata = await fetchBytes(`${url('memo-file', small)}.metadata`);
    expect(metadata.body.equals(small.metadata)).toBe(true);
    expect(fileRequests(small)).toBe(1);
    expect(metadataRequests(small)).toBe(1);
    expect(await bytesFromMemoryReach(before + small.bytes.length)).toBe(before + small.bytes.length);
    // A 304 from memory sends no body, so counts none: the next whole answer adds exactly its length.
    const notModified = await fetch(url('memo-file', small), { headers: { 'if-none-match': `"${small.sha256}"` } });
    expect(notModified.status).toBe(304);
    expect((await fetchBytes(url('memo-file', small))).res.status).toBe(200);
    expect(await bytesFromMemoryReach(before + 2 * small.bytes.length)).toBe(before + 2 * small.bytes.length);
  });

  it('streams a file over the entry bound from storage every time', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await fetchBytes(url('memo-large', large));
      expect(sha256(res.body)).toBe(large.sha256);
    }
    // Not remembered: with its stored copy gone, the gateway has to fetch it again.
    await rm(path.join(orchard.dataDir, blobKey(large.sha256)));
    const again = await fetchBytes(url('memo-large', large));
    expect(sha256(again.body)).toBe(large.sha256);
    expect(fileRequests(large)).toBe(2);
  });
});
