/**
 * Storage unavailable — the fs data directory replaced by a file, or the S3 endpoint unreachable:
 * cached files answer a clear 503 (never a 500, never cacheable), /ready reports it, nothing
 * half-written appears, and everything works again once storage is back, without a restart.
 */
import { createHash } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel, type BuiltDist } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { startTestS3, type TestS3, s3ServiceEnv } from '../support/s3.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { getBytes, getText, listFiles, waitFor } from './support/helpers.js';
import { TcpProxy } from './support/tcp-proxy.js';

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function publishAll(upstream: FakeUpstream, names: string[]): Promise<Map<string, BuiltDist>> {
  const wheels = new Map<string, BuiltDist>();
  for (const name of names) {
    const wheel = await buildWheel({ name, version: '1.0.0' });
    wheels.set(name, wheel);
    upstream.publish(name, { filename: wheel.filename, bytes: wheel.bytes });
  }
  return wheels;
}

async function readiness(port: number): Promise<{ status: number; storage: { status: string; error?: string } }> {
  const res = await getText(`http://127.0.0.1:${port}/ready`, { timeoutMs: 10_000 });
  return { status: res.status, storage: (JSON.parse(res.text) as { checks: { storage: { status: string; error?: string } } }).checks.storage };
}

function expectCleanUnavailable(res: { status: number; text: string; headers: Headers }): void {
  expect(res.status, res.text).toBe(503);
  expect(res.text.length).toBeLessThan(200);
  expect(res.text).toMatch(/storage/);
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.headers.get('etag')).toBeNull();
}

describe('fs storage unavailable (data directory replaced by a file)', () => {
  const upstream = new FakeUpstream();
  let orchard: OrchardProcesses;
  let wheels: Map<string, BuiltDist>;
  const url = (name: string) => `${orchard.gatewayUrl}/files/${name}/${wheels.get(name)!.sha256}/${wheels.get(name)!.filename}`;

  beforeAll(async () => {
    wheels = await publishAll(upstream, ['cached', 'cold']);
    await upstream.start();
    orchard = await OrchardProcesses.start({ upstreams: `local=${upstream.url}`, services: ['gateway', 'fetcher'], env: { ORCHARD_FETCH_WAIT_MS: '2000' } });
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    await orchard?.stop();
    await upstream.stop();
  });

  it('answers 503 for cached files, reports unready, writes nothing, and recovers', async () => {
    expect((await getBytes(url('cached'))).status).toBe(200);
    // Its client may have had the verified bytes a moment before the store committed them.
    const blobs = path.join(orchard.dataDir, 'blobs');
    await waitFor('the file stored', async () => ((await listFiles(blobs)).length === 1 ? true : undefined));
    const moved = `${orchard.dataDir}.moved`;
    await rename(orchard.dataDir, moved);
    await writeFile(orchard.dataDir, 'not a directory');
    try {
      for (const port of [orchard.ports.gateway, orchard.ports.fetcher]) {
        const { status, storage } = await readiness(port);
        expect(status).toBe(503);
        expect(storage.status).toBe('error');
      }
      expectCleanUnavailable(await getText(url('cached')));
      // A file never cached is streamed from its upstream (not stored), as when the queue is down:
      // installs keep working; the client verifies the published hash as always.
      const cold = await getBytes(url('cold'));
      expect(cold.status).toBe(200);
      expect(cold.headers.get('x-orchard-cache')).toBe('pass-through');
      expect(sha(cold.bytes)).toBe(wheels.get('cold')!.sha256);
      expect(await readFile(orchard.dataDir, 'utf8')).toBe('not a directory');
    } finally {
      await rm(orchard.dataDir, { force: true });
      await rename(moved, orchard.dataDir);
    }
    await waitFor('/ready', async () => ((await readiness(orchard.ports.gateway)).status === 200 ? true : undefined), 15_000, 500);
    const cached = await getBytes(url('cached'));
    expect(cached.status).toBe(200);
    expect(sha(cached.bytes)).toBe(wheels.get('cached')!.sha256);
    // Every object under blobs/ is complete and verified; nothing was left half-written.
    for (const file of await listFiles(path.join(orchard.dataDir, 'blobs'))) {
      expect(sha(await readFile(path.join(orchard.dataDir, 'blobs', file)))).toBe(path.basename(file));
    }
    expect(await listFiles(path.join(orchard.dataDir, '.tmp'))).toEqual([]);
  });
});

describe('S3 storage unavailable (endpoint unreachable)', () => {
  const upstream = new FakeUpstream();
  let orchard: OrchardProcesses;
  let s3: TestS3;
  let proxy: TcpProxy;
  let client: S3Client;
  let wheels: Map<string, BuiltDist>;
  const url = (name: string) => `${orchard.gatewayUrl}/files/${name}/${wheels.get(name)!.sha256}/${wheels.get(name)!.filename}`;

  beforeAll(async () => {
    wheels = await publishAll(upstream, ['cached', 'cold']);
    await upstream.start();
    s3 = await startTestS3();
    const target = new URL(s3.endpoint);
    proxy = new TcpProxy(target.hostname, Number(target.port));
    await proxy.start();
    client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
    orchard = await OrchardProcesses.start({
      upstreams: `local=${upstream.url}`,
      services: ['gateway', 'fetcher'],
      env: {
        ...s3ServiceEnv(s3, proxy.url),
        ORCHARD_FETCH_WAIT_MS: '2000',
      },
    });
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    await orchard?.stop();
    await proxy?.cut();
    client?.destroy();
    await s3?.stop();
    await upstream.stop();
  });

  it('answers 503 while S3 is unreachable, reports unready, and recovers with every object verified', async () => {
    expect((await getBytes(url('cached'))).status).toBe(200);
    await proxy.cut();
    try {
      for (const port of [orchard.ports.gateway, orchard.ports.fetcher]) {
        const { status, storage } = await readiness(port);
        expect(status).toBe(503);
        expect(storage.status).toBe('error');
        expect(storage.error ?? '').not.toContain(s3.secretAccessKey);
      }
      expectCleanUnavailable(await getText(url('cached')));
      expectCleanUnavailable(await getText(url('cold')));
      expect((await getText(`${orchard.gatewayUrl}/health`)).status).toBe(200);
    } finally {
      await proxy.restore();
    }
    await waitFor('/ready', async () => ((await readiness(orchard.ports.gateway)).status === 200 ? true : undefined), 15_000, 500);
    for (const name of ['cached', 'cold']) {
      const res = await getBytes(url(name));
      expect(res.status).toBe(200);
      expect(sha(res.bytes)).toBe(wheels.get(name)!.sha256);
    }
    const listing = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket }));
    const keys = (listing.Contents ?? []).map((o) => o.Key!).filter((k) => k.startsWith('blobs/'));
    expect(keys.length).toBeGreaterThanOrEqual(1);
    for (const key of keys) {
      const object = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
      expect(sha(Buffer.from(await object.Body!.transformToByteArray()))).toBe(path.basename(key));
    }
    expect(await s3.pendingMultipartUploads()).toBe(0);
  });
});
