/**
 * A 210 MB wheel is extracted with well under 1 MB read from storage (random access to the zip's
 * tail, central directory and METADATA entry), counted at the BlobStore boundary around the real
 * local-directory and S3 stores; a large .tar.gz sdist is streamed only up to its PKG-INFO.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobKey, FsBlobStore, S3BlobStore, type BlobStore, sha256Digest } from '../../libs/storage/index.js';
import { buildTar, buildWheelToFile, pseudoRandomBytes, sha256Hex } from '../support/dists.js';
import { startTestS3, type TestS3 } from '../support/s3.js';
import { countingStore } from './counting-store.js';
import { createExtractionHarness, storedDependencies, type ExtractionHarness } from './harness.js';

const PAD = 210 * 1024 * 1024;
const REQUIRES = ['numpy>=1.22', 'Typing_Extensions (>=4.0) ; python_version < "3.11"', 'pytest ; extra == "test"'];

let scratch: string;
let wheel: Awaited<ReturnType<typeof buildWheelToFile>>;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'orchard-large-'));
  wheel = await buildWheelToFile(path.join(scratch, 'big.whl'), { name: 'Big_Pkg', version: '3.1.4', padBytes: PAD, requiresDist: REQUIRES });
}, 300_000);

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

async function extractCounted(inner: BlobStore) {
  const counting = countingStore(inner);
  const h = await createExtractionHarness({ store: inner, wrapStore: () => counting.store });
  try {
    await inner.put(blobKey(wheel.sha256), createReadStream(wheel.path), { expected: sha256Digest(wheel.sha256) });
    const job = await h.recordArtifact({ filename: wheel.filename, project: 'big-pkg', size: wheel.size, sha256: wheel.sha256 });
    counting.reset();
    const outcome = await h.extract(job);
    const deps = await storedDependencies(h.prisma, wheel.sha256);
    return { outcome, deps, counts: { ...counting.counts }, h };
  } finally {
    await h.close();
  }
}

describe('a 210 MB wheel costs kilobytes of storage reads', () => {
  it('on the local-directory store', async () => {
    const store = new FsBlobStore({ root: path.join(scratch, 'fs') });
    try {
      const { outcome, deps, counts } = await extractCounted(store);
      expect(wheel.size).toBeGreaterThan(200 * 1024 * 1024);
      expect(outcome).toEqual({ status: 'ok', dependencies: 3 });
      expect(deps.map((d) => d.raw)).toEqual(REQUIRES);
      expect(counts.streamReads).toBe(0);
      expect(counts.rangeReads).toBeLessThanOrEqual(4);
      expect(counts.bytesRead).toBeLessThan(128 * 1024);
      console.log(`fs: ${wheel.size} byte wheel, ${counts.bytesRead} bytes read in ${counts.rangeReads} range reads`);
    } finally {
      await store.close();
    }
  });

  describe('on S3', () => {
    let s3: TestS3;
    beforeAll(async () => {
      s3 = await startTestS3();
    });
    afterAll(async () => {
      await s3?.stop();
    });

    it('reads by Range requests only', async () => {
      const store = new S3BlobStore({ ...s3, partSizeBytes: 16 * 1024 * 1024, queueSize: 2 });
      try {
        const { outcome, counts } = await extractCounted(store);
        expect(outcome).toEqual({ status: 'ok', dependencies: 3 });
        expect(counts.streamReads).toBe(0);
        expect(counts.bytesRead).toBeLessThan(128 * 1024);
        console.log(`s3: ${wheel.size} byte wheel, ${counts.bytesRead} bytes read in ${counts.rangeReads} range reads`);
      } finally {
        await store.close();
      }
    }, 300_000);
  });
});

describe('a large .tar.gz sdist is streamed only until its PKG-INFO', () => {
  it('reads a small fraction of a 40 MB sdist whose PKG-INFO comes early', async () => {
    const base = 'big_sdist-2.0';
    const pkgInfo = 'Metadata-Version: 2.2\nName: big-sdist\nVersion: 2.0\nRequires-Dist: attrs>=22\n';
    const bytes = gzipSync(
      buildTar([
        { path: `${base}/LICENSE`, body: 'MIT\n' },
        { path: `${base}/PKG-INFO`, body: pkgInfo },
        { path: `${base}/data.bin`, body: pseudoRandomBytes(40 * 1024 * 1024) },
      ]),
      { level: 1 },
    );
    const store = new FsBlobStore({ root: path.join(scratch, 'fs-sdist') });
    const counting = countingStore(store);
    let h: ExtractionHarness | undefined;
    try {
      h = await createExtractionHarness({ store, wrapStore: () => counting.store });
      const sha256 = sha256Hex(bytes);
      await store.put(blobKey(sha256), Readable.from([bytes]), { expected: sha256Digest(sha256) });
      const job = await h.recordArtifact({ filename: `${base}.tar.gz`, project: 'big-sdist', size: bytes.length, sha256 });
      counting.reset();
      expect(await h.extract(job)).toEqual({ status: 'ok', dependencies: 1 });
      expect(counting.counts.streamReads).toBe(1);
      expect(counting.counts.bytesRead).toBeLessThan(1024 * 1024);
      expect((await h.releases.artifactFacts(sha256))?.release?.dependenciesKnown).toBe(true);
    } finally {
      await h?.close();
      await store.close();
    }
  });
});
