/**
 * One upstream download per file however long it takes (issue 12 §7): a herd of first requests for
 * a file whose download outlasts ORCHARD_FETCH_WAIT_MS, spread over two gateways, causes one
 * upstream GET; every client receives the bytes as they arrive (before the download has finished)
 * and gets the whole verified file. On the fs store and on S3.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { startTestS3, s3ServiceEnv, testS3Client, type TestS3 } from '../support/s3.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { exists, blobPath } from './support/helpers.js';

const HERD = 50;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

interface Download {
  status: number;
  body: Buffer;
  /** Whether the file was already complete in storage when this client got its first byte. */
  storedAtFirstByte: boolean;
}

for (const storage of ['fs', 's3'] as const) {
  describe(`a herd on a slow download (${storage})`, () => {
    const upstream = new FakeUpstream();
    let orchard: OrchardProcesses;
    let s3: TestS3 | undefined;
    let replica: string;
    let wheel: Awaited<ReturnType<typeof buildWheel>>;

    /** Whether the file is complete in storage (fs: its blob; S3: its object). */
    const stored = async () => (storage === 'fs' ? exists(blobPath(orchard.dataDir, wheel.sha256)) : (await s3Stat(s3!, wheel.sha256)) !== undefined);

    const download = (base: string): Promise<Download> =>
      new Promise((resolve, reject) => {
        const req = http.get(`${base}/files/herd/${wheel.sha256}/${wheel.filename}`, (res) => {
          const chunks: Buffer[] = [];
          let first: Promise<boolean> | undefined;
          res.on('data', (chunk: Buffer) => {
            first ??= stored();
            chunks.push(chunk);
          });
          res.on('end', () => void (first ?? Promise.resolve(true)).then((s) => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), storedAtFirstByte: s })));
          res.on('error', reject);
        });
        req.on('error', reject);
      });

    beforeAll(async () => {
      if (storage === 's3') s3 = await startTestS3();
      wheel = await buildWheel({ name: 'herd', version: '1.0', padBytes: 3_000_000 });
      upstream.publish('herd', { filename: wheel.filename, bytes: wheel.bytes });
      // About 3 s of body: three times ORCHARD_FETCH_WAIT_MS below.
      upstream.fileFaults.set(wheel.filename, { kind: 'slow', chunkBytes: 100_000, intervalMs: 100 });
      await upstream.start();
      orchard = await OrchardProcesses.start({
        upstreams: `local=${upstream.url}`,
        env: { ORCHARD_FETCH_WAIT_MS: '1000', ...(s3 ? s3ServiceEnv(s3) : {}) },
      });
      replica = await orchard.startGatewayReplica();
    });

    afterAll(async () => {
      if (process.env.ORCHARD_TEST_LOGS) console.log(orchard?.allLogs());
      await orchard?.stop();
      await upstream.stop();
      await s3?.stop();
    });

    it('downloads once, streams to every client as the bytes arrive, and every client gets the verified file', async () => {
      const page = await fetch(`${orchard.gatewayUrl}/simple/herd/`);
      expect(page.status).toBe(200);
      const results = await Promise.all(Array.from({ length: HERD }, (_, i) => download(i % 2 === 0 ? orchard.gatewayUrl : replica)));
      for (const result of results) {
        expect(result.status).toBe(200);
        expect(sha256(result.body)).toBe(wheel.sha256);
      }
      expect(upstream.requests.filter((r) => r.path === `/files/${wheel.filename}`)).toHaveLength(1);
      // Progressive: clients had bytes while the file was still on its way into storage.
      expect(results.filter((r) => !r.storedAtFirstByte).length).toBeGreaterThan(HERD / 2);
      // Afterwards it is a plain cache hit.
      const again = await download(replica);
      expect(sha256(again.body)).toBe(wheel.sha256);
      expect(upstream.requests.filter((r) => r.path === `/files/${wheel.filename}`)).toHaveLength(1);
    });
  });
}

/** The size of a stored blob in the S3 bucket, or undefined. */
async function s3Stat(s3: TestS3, sha: string): Promise<number | undefined> {
  const { HeadObjectCommand } = await import('@aws-sdk/client-s3');
  const client = testS3Client(s3);
  try {
    const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `blobs/sha256/${sha.slice(0, 2)}/${sha.slice(2, 4)}/${sha}` }));
    return head.ContentLength;
  } catch (err) {
    if ((err as { name?: string }).name === 'NotFound') return undefined;
    throw err;
  } finally {
    client.destroy();
  }
}
