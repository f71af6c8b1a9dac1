/**
 * Download modes with S3 storage (s3rver, or MinIO in a container): `redirect` answers cached files
 * with a 307 to a short-lived presigned URL; pip follows it.
 */
import { mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { runPip } from '../support/pip.js';
import { startTestS3, type TestS3, s3ServiceEnv } from '../support/s3.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { request } from './http.js';

describe('ORCHARD_DOWNLOAD_MODE=redirect with S3 storage', () => {
  const upstream = new FakeUpstream();
  let s3: TestS3;
  let orchard: OrchardProcesses;
  let wheel: Awaited<ReturnType<typeof buildWheel>>;
  const fileUrl = () => `${orchard.gatewayUrl}/files/redirected/${wheel.sha256}/${wheel.filename}`;

  beforeAll(async () => {
    s3 = await startTestS3();
    wheel = await buildWheel({ name: 'redirected', version: '1.0', padBytes: 100_000 });
    upstream.publish('redirected', { filename: wheel.filename, bytes: wheel.bytes, metadata: wheel.metadata });
    await upstream.start();
    orchard = await OrchardProcesses.start({
      upstreams: `local=${upstream.url}`,
      env: {
        ...s3ServiceEnv(s3),
        ORCHARD_DOWNLOAD_MODE: 'redirect',
      },
    });
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    await orchard?.stop();
    await upstream.stop();
    await s3?.stop();
  });

  it('redirects a file to a presigned URL that serves exactly its bytes, ranges included', async () => {
    const res = await request(fileUrl());
    expect(res.status).toBe(307);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers.etag).toBe(`"${wheel.sha256}"`);
    const location = new URL(res.headers.location!);
    expect(location.origin).toBe(new URL(s3.endpoint).origin);
    expect(location.searchParams.get('X-Amz-Expires')).toBe('300');
    const direct = await request(location.href);
    expect(direct.status).toBe(200);
    expect(direct.body.equals(wheel.bytes)).toBe(true);
    // The client re-sends its Range to the store (s3rver mishandles suffix ranges, so an explicit one).
    const size = wheel.bytes.length;
    const tail = await request(location.href, { headers: { range: `bytes=${size - 65536}-${size - 1}` } });
    expect(tail.status).toBe(206);
    expect(tail.body.equals(wheel.bytes.subarray(size - 65536))).toBe(true);
    // The gateway fetched the file once; the client's bytes came from the bucket.
    expect(upstream.fileRequests().filter((r) => r.path === `/files/${wheel.filename}`)).toHaveLength(1);
  });

  it('answers HEAD with the redirect too, and 304 without one', async () => {
    const head = await request(fileUrl(), { method: 'HEAD' });
    expect(head.status).toBe(307);
    expect(head.headers.location).toMatch(/^http/);
    const notModified = await request(fileUrl(), { headers: { 'if-none-match': `"${wheel.sha256}"` } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.etag).toBe(`"${wheel.sha256}"`);
    expect(notModified.headers.location).toBeUndefined();
  });

  it('still serves metadata files itself', async () => {
    const res = await request(`${fileUrl()}.metadata`);
    expect(res.status).toBe(200);
    expect(res.body.equals(wheel.metadata)).toBe(true);
  });

  it('lets pip install through the redirect', async () => {
    const target = await mkdtemp(path.join(os.tmpdir(), 'orchard-pip-'));
    const result = await runPip(['install', '--index-url', `${orchard.gatewayUrl}/simple/`, '--target', target, 'redirected']);
    expect(result.code, result.stderr).toBe(0);
    expect(await readdir(target)).toContain('redirected');
  });
});

describe('ORCHARD_DOWNLOAD_MODE=stream (default) with S3 storage', () => {
  const upstream = new FakeUpstream();
  let s3: TestS3;
  let orchard: OrchardProcesses;
  let wheel: Awaited<ReturnType<typeof buildWheel>>;

  beforeAll(async () => {
    s3 = await startTestS3();
    wheel = await buildWheel({ name: 'streamed', version: '1.0', padBytes: 100_000 });
    upstream.publish('streamed', { filename: wheel.filename, bytes: wheel.bytes });
    await upstream.start();
    orchard = await OrchardProcesses.start({
      upstreams: `local=${upstream.url}`,
      services: ['gateway', 'fetcher'],
      env: {
        ...s3ServiceEnv(s3),
      },
    });
  });

  afterAll(async () => {
    await orchard?.stop();
    await upstream.stop();
    await s3?.stop();
  });

  it('streams files from the bucket through the gateway, with ranges', async () => {
    const url = `${orchard.gatewayUrl}/files/streamed/${wheel.sha256}/${wheel.filename}`;
    const full = await request(url);
    expect(full.status).toBe(200);
    expect(full.body.equals(wheel.bytes)).toBe(true);
    const tail = await request(url, { headers: { range: 'bytes=-65536' } });
    expect(tail.status).toBe(206);
    expect(tail.body.equals(wheel.bytes.subarray(wheel.bytes.length - 65536))).toBe(true);
    expect(tail.headers['content-range']).toBe(`bytes ${wheel.bytes.length - 65536}-${wheel.bytes.length - 1}/${wheel.bytes.length}`);
  });
});
