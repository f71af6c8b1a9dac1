/**
 * Files and PEP 658 metadata files through the real services: strong ETags, 304, single ranges,
 * HEAD, no content-encoding; `.metadata` from the upstream (verified, cached) or from the METADATA
 * Orchard extracted itself, which the page then advertises.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSdist, buildWheel } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { JSON_TYPE, PIP_ACCEPT, request, waitFor } from './http.js';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
type Built = { filename: string; bytes: Buffer; sha256: string; metadata?: Buffer };

describe('files and PEP 658 metadata files', () => {
  const upstream = new FakeUpstream();
  let orchard: OrchardProcesses;
  let db: pg.Client;
  let redis: Redis;
  let big: Built & { metadata: Buffer };
  let metaUp: Built & { metadata: Buffer };
  let metaEvil: Built & { metadata: Buffer };
  let metaNoHash: Built & { metadata: Buffer };
  let extractedWheel: Built & { metadata: Buffer };
  let extractedSdist: Built;
  let plain: Built & { metadata: Buffer };

  const fileUrl = (project: string, file: Built) => `${orchard.gatewayUrl}/files/${project}/${file.sha256}/${file.filename}`;
  const upstreamRequests = (path: string) => upstream.requests.filter((r) => r.path === path).length;
  const jsonPage = async (project: string) => {
    const res = await request(`${orchard.gatewayUrl}/simple/${project}/`, { headers: { accept: PIP_ACCEPT } });
    expect(res.headers['content-type']).toBe(JSON_TYPE);
    return { res, doc: JSON.parse(res.body.toString()) as { files: Array<Record<string, unknown>> } };
  };
  const fileEntry = (doc: { files: Array<Record<string, unknown>> }, filename: string) => doc.files.find((f) => f.filename === filename)!;

  beforeAll(async () => {
    upstream.format = 'html';
    big = await buildWheel({ name: 'big', version: '1.0', padBytes: 300_000 });
    metaUp = await buildWheel({ name: 'meta-up', version: '1.0', requiresDist: ['big'] });
    metaEvil = await buildWheel({ name: 'meta-evil', version: '1.0' });
    metaNoHash = await buildWheel({ name: 'meta-nohash', version: '1.0' });
    extractedWheel = await buildWheel({ name: 'extracted', version: '2.0', requiresDist: ['big>=1'] });
    extractedSdist = await buildSdist({ name: 'extracted', version: '2.0', requiresDist: ['big>=1'] });
    plain = await buildWheel({ name: 'plain', version: '1.0' });
    upstream.publish('plain', { filename: plain.filename, bytes: plain.bytes });
    upstream.publish('big', { filename: big.filename, bytes: big.bytes });
    upstream.publish('meta-up', { filename: metaUp.filename, bytes: metaUp.bytes, metadata: metaUp.metadata });
    upstream.publish('meta-evil', { filename: metaEvil.filename, bytes: metaEvil.bytes, metadata: metaEvil.metadata });
    upstream.tampered.add(`${metaEvil.filename}.metadata`);
    upstream.publish('meta-nohash', { filename: metaNoHash.filename, bytes: metaNoHash.bytes, metadata: metaNoHash.metadata, metadataAdvertised: 'true' });
    upstream.publish('extracted', { filename: extractedWheel.filename, bytes: extractedWheel.bytes });
    upstream.publish('extracted', { filename: extractedSdist.filename, bytes: extractedSdist.bytes });
    await upstream.start();
    orchard = await OrchardProcesses.start({ upstreams: `local=${upstream.url}` });
    db = new pg.Client({ connectionString: orchard.database.url });
    await db.connect();
    redis = new Redis(orchard.env.REDIS_URL!);
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    redis?.disconnect();
    await db?.end();
    await orchard?.stop();
    await upstream.stop();
  });

  describe('files', () => {
    it('serve the verified bytes with a strong ETag, immutable caching, never content-encoded', async () => {
      const res = await request(fileUrl('big', big), { headers: { 'accept-encoding': 'gzip, br' } });
      expect(res.status).toBe(200);
      expect(res.body.equals(big.bytes)).toBe(true);
      expect(res.headers.etag).toBe(`"${big.sha256}"`);
      expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(res.headers['accept-ranges']).toBe('bytes');
      expect(res.headers['content-type']).toBe('application/octet-stream');
      expect(res.headers['content-encoding']).toBeUndefined();
      expect(res.headers['content-length']).toBe(String(big.bytes.length));
    });

    it('give a client reading the last 64 KiB of a cached wheel exactly those bytes', async () => {
      const res = await request(fileUrl('big', big), { headers: { range: 'bytes=-65536' } });
      expect(res.status).toBe(206);
      const size = big.bytes.length;
      expect(res.body.equals(big.bytes.subarray(size - 65536))).toBe(true);
      expect(res.headers['content-range']).toBe(`bytes ${size - 65536}-${size - 1}/${size}`);
      expect(res.headers['content-length']).toBe('65536');
      expect(res.headers.etag).toBe(`"${big.sha256}"`);
    });

    it('answer one explicit range, 416 for an unsatisfiable one, the whole file for several or a stale If-Range', async () => {
      const size = big.bytes.length;
      const first = await request(fileUrl('big', big), { headers: { range: 'bytes=100-199', 'if-range': `"${big.sha256}"` } });
      expect(first.status).toBe(206);
      expect(first.body.equals(big.bytes.subarray(100, 200))).toBe(true);
      const unsatisfiable = await request(fileUrl('big', big), { headers: { range: `bytes=${size}-` } });
      expect(unsatisfiable.status).toBe(416);
      expect(unsatisfiable.headers['content-range']).toBe(`bytes */${size}`);
      const several = await request(fileUrl('big', big), { headers: { range: 'bytes=0-9,500-509' } });
      expect(several.status).toBe(200);
      expect(several.body.length).toBe(size);
      const stale = await request(fileUrl('big', big), { headers: { range: 'bytes=0-9', 'if-range': '"not-this-file"' } });
      expect(stale.status).toBe(200);
      expect(stale.body.length).toBe(size);
    });

    it('answer HEAD with the Content-Length of the matching GET, and 304 repeating the ETag', async () => {
      const head = await request(fileUrl('big', big), { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers['content-length']).toBe(String(big.bytes.length));
      expect(head.body.length).toBe(0);
      const headRange = await request(fileUrl('big', big), { method: 'HEAD', headers: { range: 'bytes=-65536' } });
      expect(headRange.status).toBe(206);
      expect(headRange.headers['content-length']).toBe('65536');
      const notModified = await request(fileUrl('big', big), { headers: { 'if-none-match': `"${big.sha256}"` } });
      expect(notModified.status).toBe(304);
      expect(notModified.headers.etag).toBe(`"${big.sha256}"`);
      expect(upstreamRequests(`/files/${big.filename}`)).toBe(1);
    });
  });

  describe('.metadata from the upstream', () => {
    it('is fetched once before the wheel is cached, verified against its published hash, then served from storage', async () => {
      const url = `${fileUrl('meta-up', metaUp)}.metadata`;
      const first = await request(url);
      expect(first.status).toBe(200);
      expect(first.body.equals(metaUp.metadata)).toBe(true);
      expect(first.headers.etag).toBe(`"${sha256(metaUp.metadata)}"`);
      expect(first.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(first.headers['content-encoding']).toBeUndefined();
      const second = await request(url);
      expect(second.body.equals(metaUp.metadata)).toBe(true);
      expect(second.headers['x-orchard-cache']).toBe('hit');
      expect(upstreamRequests(`/files/${metaUp.filename}.metadata`)).toBe(1);
      expect(upstreamRequests(`/files/${metaUp.filename}`)).toBe(0);
      const head = await request(url, { method: 'HEAD' });
      expect(head.headers['content-length']).toBe(String(metaUp.metadata.length));
      const notModified = await request(url, { headers: { 'if-none-match': first.headers.etag! } });
      expect(notModified.status).toBe(304);
      expect(notModified.headers.etag).toBe(first.headers.etag);
    });

    it('is refused (502) and not stored when it does not match the published hash', async () => {
      const url = `${fileUrl('meta-evil', metaEvil)}.metadata`;
      for (let i = 0; i < 2; i++) {
        const res = await request(url);
        expect(res.status).toBe(502);
        expect(res.body.toString()).toMatch(/does not match its published sha256/);
      }
      expect(upstreamRequests(`/files/${metaEvil.filename}.metadata`)).toBe(2);
    });

    it('is served when advertised without a hash, and 404 when neither the upstream nor Orchard has one', async () => {
      const res = await request(`${fileUrl('meta-nohash', metaNoHash)}.metadata`);
      expect(res.status).toBe(200);
      expect(res.body.equals(metaNoHash.metadata)).toBe(true);
      const none = await request(`${fileUrl('plain', plain)}.metadata`);
      expect(none.status).toBe(404);
      expect(upstreamRequests(`/files/${plain.filename}.metadata`)).toBe(0);
      const unlisted = await request(`${orchard.gatewayUrl}/files/big/${'0'.repeat(64)}/big-9.9-py3-none-any.whl.metadata`);
      expect(unlisted.status).toBe(404);
    });
  });

  describe('metadata Orchard extracted itself', () => {
    it('is advertised on the cached page once the wheel was extracted, though the upstream offered none', async () => {
      const { doc: before, res: beforeRes } = await jsonPage('extracted');
      expect(fileEntry(before, extractedWheel.filename)).not.toHaveProperty('core-metadata');
      const wheel = await request(fileUrl('extracted', extractedWheel));
      expect(wheel.status).toBe(200);
      const digest = sha256(extractedWheel.metadata);
      const after = await waitFor('the page to advertise the extracted metadata', async () => {
        const page = await jsonPage('extracted');
        return fileEntry(page.doc, extractedWheel.filename)['core-metadata'] ? page : undefined;
      });
      expect(fileEntry(after.doc, extractedWheel.filename)['core-metadata']).toEqual({ sha256: digest });
      // Re-rendered in place: still the cached page (no upstream request), with a new ETag.
      expect(after.res.headers['x-orchard-cache']).toBe('hit');
      expect(after.res.headers.etag).not.toBe(beforeRes.headers.etag);
      const html = (await request(`${orchard.gatewayUrl}/simple/extracted/`, { headers: { accept: 'text/html' } })).body.toString();
      expect(html).toContain(`data-core-metadata="sha256=${digest}" data-dist-info-metadata="sha256=${digest}">${extractedWheel.filename}</a>`);

      const metadata = await request(`${fileUrl('extracted', extractedWheel)}.metadata`);
      expect(metadata.status).toBe(200);
      expect(metadata.body.equals(extractedWheel.metadata)).toBe(true);
      expect(metadata.headers.etag).toBe(`"${digest}"`);
      expect(upstreamRequests(`/files/${extractedWheel.filename}.metadata`)).toBe(0);
    });

    it('is advertised by a fresh fill too (one lookup over the listed files)', async () => {
      const prefix = orchard.env.ORCHARD_CACHE_PREFIX!;
      expect(await redis.del(`${prefix}:index:pypi:extracted`)).toBe(1);
      const { res, doc } = await jsonPage('extracted');
      expect(res.headers['x-orchard-cache']).toBe('miss');
      expect(fileEntry(doc, extractedWheel.filename)['core-metadata']).toEqual({ sha256: sha256(extractedWheel.metadata) });
    });

    it('is advertised again after the cache lost the artifact record (restored from PostgreSQL on the next file request)', async () => {
      const prefix = orchard.env.ORCHARD_CACHE_PREFIX!;
      const recordKey = `${prefix}:artifact:pypi:${extractedWheel.sha256}`;
      expect(await redis.del(recordKey, `${prefix}:index:pypi:extracted`)).toBe(2);
      const { doc: without } = await jsonPage('extracted');
      expect(fileEntry(without, extractedWheel.filename)).not.toHaveProperty('core-metadata');
      expect((await request(fileUrl('extracted', extractedWheel))).status).toBe(200);
      const record = await waitFor('the restored artifact record', async () => (await redis.get(recordKey)) ?? undefined);
      expect(JSON.parse(record)).toMatchObject({ filename: extractedWheel.filename, metadataSha256: sha256(extractedWheel.metadata) });
      expect(await redis.del(`${prefix}:index:pypi:extracted`)).toBe(1);
      const { doc } = await jsonPage('extracted');
      expect(fileEntry(doc, extractedWheel.filename)['core-metadata']).toEqual({ sha256: sha256(extractedWheel.metadata) });
    });

    it('is never advertised for an sdist (its PKG-INFO need not tell its dependencies)', async () => {
      const sdist = await request(fileUrl('extracted', extractedSdist));
      expect(sdist.status).toBe(200);
      await waitFor('the sdist to be extracted', async () => {
        const { rows } = await db.query(`SELECT metadata_status FROM release WHERE artifact_sha256 = $1`, [extractedSdist.sha256]);
        return rows[0]?.metadata_status === 'ok' ? true : undefined;
      });
      // The extractor flagged the page; reading it re-checks and still leaves the sdist out.
      const { doc } = await jsonPage('extracted');
      expect(fileEntry(doc, extractedSdist.filename)).not.toHaveProperty('core-metadata');
      expect(fileEntry(doc, extractedWheel.filename)).toHaveProperty('core-metadata');
      expect((await request(`${fileUrl('extracted', extractedSdist)}.metadata`)).status).toBe(404);
    });
  });
});
