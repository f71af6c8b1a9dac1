/**
 * Malformed and hostile distributions through the real extract handler, real storage and
 * PostgreSQL: each ends with its reason recorded on the release, an unrecoverable job failure (or a
 * completed "unsupported" job), no dependency rows, no metadata file, and nothing thrown but that.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, gzipSync } from 'node:zlib';
import { Job, QueueEvents } from 'bullmq';
import { ZipFile } from 'yazl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_METADATA_BYTES, MAX_REQUIREMENTS } from '../../libs/protocol/pypi/index.js';
import { createProducerRedis, createWorker, createWorkerRedis, Producers, UnrecoverableError } from '../../libs/queue/index.js';
import { blobKey, metadataKey } from '../../libs/storage/index.js';
import { buildTar, buildWheel } from '../support/dists.js';
import { createExtractionHarness, REDIS_URL, type ExtractionHarness } from './harness.js';

let h: ExtractionHarness;
let scratch: string;

beforeAll(async () => {
  h = await createExtractionHarness();
  scratch = await mkdtemp(path.join(tmpdir(), 'orchard-hostile-'));
});

afterAll(async () => {
  await h?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

const sha256Hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function zipOf(members: Array<{ name: string; data: Buffer | string; compress?: boolean }>): Promise<Buffer> {
  const zip = new ZipFile();
  for (const m of members) zip.addBuffer(Buffer.from(m.data), m.name, { compress: m.compress ?? true });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const META = 'bad_pkg-1.0.dist-info/METADATA';
const WHEEL = 'bad_pkg-1.0-py3-none-any.whl';
const goodMetadata = (extra = '') => `Metadata-Version: 2.1\nName: bad-pkg\nVersion: 1.0\n${extra}`;

/** Stores the bytes, runs the handler, and returns how it ended. */
async function run(filename: string, bytes: Buffer, project = 'bad-pkg') {
  const sha256 = sha256Hex(bytes);
  const job = await h.storeArtifact({ filename, project, bytes, sha256 });
  const outcome = await h.extract(job).then(
    (value) => ({ value, error: undefined }),
    (error: unknown) => ({ value: undefined, error }),
  );
  const release = await h.prisma.release.findUnique({ where: { artifactSha256: sha256 } });
  const dependencies = await h.prisma.artifactDependency.count({ where: { artifactSha256: sha256 } });
  const metadataFile = await h.store.stat(metadataKey(sha256));
  const artifact = await h.artifacts.find(sha256);
  return { sha256, ...outcome, release, dependencies, metadataFile, metadataSha256: artifact?.metadataSha256 ?? null };
}

/** Asserts a permanent, recorded failure with nothing else written. */
async function expectFailure(filename: string, bytes: Buffer, reason: RegExp, version = '1.0') {
  const r = await run(filename, bytes);
  expect(r.error, filename).toBeInstanceOf(UnrecoverableError);
  expect(r.release, filename).toMatchObject({ metadataStatus: 'failed', version, dependenciesKnown: false, requiresPython: null });
  expect(r.release?.metadataError, filename).toMatch(reason);
  expect(r.dependencies).toBe(0);
  expect(r.metadataFile).toBeNull();
  expect(r.metadataSha256).toBeNull();
  return r;
}

async function expectUnsupported(filename: string, bytes: Buffer, reason: RegExp) {
  const r = await run(filename, bytes);
  expect(r.error, filename).toBeUndefined();
  expect(r.value).toMatchObject({ status: 'unsupported' });
  expect(r.release).toMatchObject({ metadataStatus: 'unsupported', dependenciesKnown: false });
  expect(r.release?.metadataError).toMatch(reason);
  expect(r.dependencies).toBe(0);
  expect(r.metadataFile).toBeNull();
}

describe('wheels that cannot be read are recorded as failed, with the reason', () => {
  it('a corrupt zip, a truncated one, and one without METADATA', async () => {
    await expectFailure(WHEEL, Buffer.from('this is not a zip file at all, just text\n'.repeat(20)), /not a zip file/);
    const good = await zipOf([
      { name: META, data: goodMetadata() },
      { name: 'bad_pkg/__init__.py', data: 'x = 1\n'.repeat(500) },
    ]);
    await expectFailure(WHEEL, good.subarray(0, good.length - 30), /not a zip file|truncated|corrupt/);
    const flipped = Buffer.from(good);
    flipped.writeUInt32LE(0xdeadbeef, good.lastIndexOf(Buffer.from('PK\u0005\u0006')) + 16); // central directory offset
    await expectFailure(WHEEL, flipped, /corrupt|truncated/);
    await expectFailure(
      WHEEL,
      await zipOf([
        { name: 'bad_pkg/__init__.py', data: '' },
        { name: 'bad_pkg-1.0.dist-info/WHEEL', data: 'x' },
      ]),
      /no \.dist-info\/METADATA/,
    );
  });

  it('undecodable text: UTF-16 and binary METADATA', async () => {
    await expectFailure(WHEEL, await zipOf([{ name: META, data: Buffer.from(`\ufeff${goodMetadata()}`, 'utf16le') }]), /undecodable METADATA/);
    await expectFailure(
      WHEEL,
      await zipOf([{ name: META, data: Buffer.concat([Buffer.from(goodMetadata('Summary: a')), Buffer.from([0, 1, 2, 0xff, 0])]) }]),
      /undecodable METADATA/,
    );
  });

  it('oversized METADATA, and zip bombs by ratio and by lying about the size', async () => {
    const huge = goodMetadata(`Description: ${'x'.repeat(11 * 1024 * 1024)}\n`);
    await expectFailure(WHEEL, await zipOf([{ name: META, data: huge, compress: false }]), /METADATA larger than 4 MiB/);
    const bomb = goodMetadata(`Summary: ${'A'.repeat(3 * 1024 * 1024)}\n`);
    await expectFailure(WHEEL, await zipOf([{ name: META, data: bomb }]), /compression ratio exceeds 200:1/);

    // Declares 100 bytes in both headers; the data inflates to far more.
    const liar = await zipOf([{ name: META, data: goodMetadata(`Summary: ${'B'.repeat(20_000)}\n`) }]);
    const size = Buffer.byteLength(goodMetadata(`Summary: ${'B'.repeat(20_000)}\n`));
    const patched = Buffer.from(liar);
    for (
      let at = patched.indexOf(Buffer.from([size & 0xff, (size >> 8) & 0xff, (size >> 16) & 0xff, 0]));
      at >= 0;
      at = patched.indexOf(Buffer.from([size & 0xff, (size >> 8) & 0xff, (size >> 16) & 0xff, 0]), at + 1)
    ) {
      patched.writeUInt32LE(100, at);
    }
    await expectFailure(WHEEL, patched, /inflates beyond its declared size|compression ratio/);
  });

  it('the attack of the review: 9.9 MB of METADATA with 330,000 Requires-Dist lines is refused, not stored', async () => {
    const lines = Array.from({ length: 330_000 }, (_, i) => `Requires-Dist: dep-${i}>=1.0\n`).join('');
    const attack = goodMetadata(lines);
    expect(Buffer.byteLength(attack)).toBeGreaterThan(MAX_METADATA_BYTES);
    await expectFailure(WHEEL, await zipOf([{ name: META, data: attack }]), /^METADATA larger than 4 MiB$/);
  });

  it(`more than ${MAX_REQUIREMENTS} requirements under the size bound is refused; exactly ${MAX_REQUIREMENTS} is accepted`, async () => {
    const requiring = (n: number) => goodMetadata(Array.from({ length: n }, (_, i) => `Requires-Dist: dep-${i}>=1.0\n`).join(''));
    const tooMany = requiring(MAX_REQUIREMENTS + 1);
    expect(Buffer.byteLength(tooMany)).toBeLessThan(MAX_METADATA_BYTES);
    await expectFailure(
      WHEEL,
      await zipOf([{ name: META, data: tooMany }]),
      new RegExp(`^METADATA declares ${MAX_REQUIREMENTS + 1} requirements, more than the ${MAX_REQUIREMENTS} accepted$`),
    );
    const sdist = gzipSync(
      buildTar([
        {
          path: 'bad_pkg-1.0/PKG-INFO',
          body: `Metadata-Version: 1.1\nName: bad-pkg\nVersion: 1.0\n${Array.from({ length: MAX_REQUIREMENTS + 1 }, (_, i) => `Requires: dep${i}\n`).join('')}`,
        },
      ]),
    );
    await expectFailure('bad_pkg-1.0.tar.gz', sdist, /^PKG-INFO declares 5001 requirements/);

    const atBound = await run(WHEEL, await zipOf([{ name: META, data: requiring(MAX_REQUIREMENTS) }]));
    expect(atBound.error).toBeUndefined();
    expect(atBound.release).toMatchObject({ metadataStatus: 'ok' });
    expect(atBound.dependencies).toBe(MAX_REQUIREMENTS);
  });

  it('bad core metadata: no Name, an invalid requirement among valid ones, an absurdly long one', async () => {
    await expectFailure(WHEEL, await zipOf([{ name: META, data: 'Metadata-Version: 2.1\nVersion: 1.0\n' }]), /missing Name/);
    const mixed = goodMetadata('Requires-Dist: six\nRequires-Dist: idna>=2\nRequires-Dist: broken >= \nRequires-Dist: certifi\n');
    await expectFailure(WHEEL, await zipOf([{ name: META, data: mixed }]), /invalid requirement "broken >=": expected a version/);
    const long = goodMetadata(`Requires-Dist: pkg @ https://x.example/${'a'.repeat(3000)}.whl\n`);
    await expectFailure(WHEEL, await zipOf([{ name: META, data: long }]), /longer than 2000 bytes/);
  });

  it('an artifact missing from storage', async () => {
    const bytes = Buffer.from('never stored');
    const sha256 = sha256Hex(bytes);
    const job = await h.recordArtifact({ filename: WHEEL, project: 'gone', size: bytes.length, sha256 });
    await expect(h.extract(job)).rejects.toBeInstanceOf(UnrecoverableError);
    expect(await h.prisma.release.findUnique({ where: { artifactSha256: sha256 } })).toMatchObject({ metadataStatus: 'failed', metadataError: 'file not in storage' });
  });

  it('a failure after an earlier success clears the earlier facts (nothing stale remains)', async () => {
    const wheel = await buildWheel({ name: 'flip', version: '1.0', requiresDist: ['six', 'idna'] });
    const job = await h.storeArtifact({ ...wheel, project: 'flip' });
    await h.extract(job);
    expect(await h.prisma.artifactDependency.count({ where: { artifactSha256: wheel.sha256 } })).toBe(2);
    // The same artifact id, now pointing at unreadable bytes (as a parser regression would see it).
    await h.store.delete(blobKey(wheel.sha256));
    await expect(h.extract(job)).rejects.toBeInstanceOf(UnrecoverableError);
    expect(await h.prisma.artifactDependency.count({ where: { artifactSha256: wheel.sha256 } })).toBe(0);
    expect(await h.prisma.release.findUnique({ where: { artifactSha256: wheel.sha256 } })).toMatchObject({ metadataStatus: 'failed', summary: null });
  });

  it('survives mangled wheels: each ends ok or as a recorded failure, nothing else', async () => {
    const base = await zipOf([
      { name: 'mangle/__init__.py', data: 'print(1)\n'.repeat(50) },
      { name: 'mangle-1.0.dist-info/METADATA', data: 'Metadata-Version: 2.1\nName: mangle\nVersion: 1.0\nRequires-Dist: six\n' },
      { name: 'mangle-1.0.dist-info/RECORD', data: '' },
    ]);
    let seed = 12345;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 40; i++) {
      const bytes = Buffer.from(base);
      for (let k = 0; k < 1 + (i % 4); k++) bytes[next() % bytes.length] = next() % 256;
      const r = await run('mangle-1.0-py3-none-any.whl', bytes, 'mangle');
      if (r.error !== undefined) {
        expect(r.error).toBeInstanceOf(UnrecoverableError);
        expect(r.release?.metadataStatus).toBe('failed');
        expect(r.dependencies).toBe(0);
      } else {
        expect(r.release?.metadataStatus).toBe('ok');
      }
    }
  });
});

describe('sdists that cannot be read', () => {
  it('no PKG-INFO, a PKG-INFO that is a symlink, corrupt gzip', async () => {
    const noPkgInfo = gzipSync(buildTar([{ path: 'bad_pkg-1.0/setup.py', body: 'pass' }]));
    await expectFailure('bad_pkg-1.0.tar.gz', noPkgInfo, /no PKG-INFO/);
    const link = gzipSync(buildTar([{ path: 'bad_pkg-1.0/PKG-INFO', type: 'symlink', linkpath: '/etc/passwd' }]));
    await expectFailure('bad_pkg-1.0.tar.gz', link, /no PKG-INFO/);
    const gz = gzipSync(buildTar([{ path: 'bad_pkg-1.0/PKG-INFO', body: goodMetadata() }]));
    const corrupt = Buffer.concat([gz.subarray(0, 20), Buffer.alloc(200, 0x55)]);
    await expectFailure('bad_pkg-1.0.tar.gz', corrupt, /corrupt gzip data|truncated|not a tar/);
  });

  it('a gzip bomb: more than 512 MiB before any PKG-INFO', async () => {
    const file = path.join(scratch, 'bomb.tar.gz');
    const big = 600 * 1024 * 1024;
    const header = buildTar([{ path: 'bad_pkg-1.0/zeros', body: '' }]).subarray(0, 512);
    // Patch the size field of the header (octal, 11 digits) and its checksum.
    header.write(`${big.toString(8).padStart(11, '0')}\u0000`, 124, 'latin1');
    header.write('        ', 148, 'latin1');
    let sum = 0;
    for (const b of header) sum += b;
    header.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'latin1');
    async function* body() {
      yield header;
      const chunk = Buffer.alloc(4 * 1024 * 1024);
      for (let left = big; left > 0; left -= chunk.length) yield chunk;
    }
    await pipeline(Readable.from(body()), createGzip({ level: 1 }), createWriteStream(file));
    const { size } = await stat(file);
    expect(size).toBeLessThan(5 * 1024 * 1024);
    const { readFile } = await import('node:fs/promises');
    await expectFailure('bad_pkg-1.0.tar.gz', await readFile(file), /more than 512 MiB before PKG-INFO/);
  });

  it('records .tar.bz2, .tar.xz, eggs and installers as unsupported, not failed', async () => {
    await expectUnsupported('bad_pkg-1.0.tar.bz2', Buffer.from('BZh91AY&SY fake bzip2'), /bzip2-compressed sdists are not supported/);
    await expectUnsupported('bad_pkg-1.0.tar.xz', Buffer.from('xz'), /xz-compressed sdists are not supported/);
    await expectUnsupported('bad_pkg-1.0-py3.8.egg', Buffer.from('egg'), /eggs are not read/);
    await expectUnsupported('bad_pkg-1.0.win32.exe', Buffer.from('MZ'), /not a wheel or an sdist/);
    // Named .tar.gz, but bzip2 inside: recognised by its magic number.
    await expectUnsupported('bad_pkg-2.0.tar.gz', Buffer.from('BZh91AY&SY another fake'), /bzip2-compressed/);
  });
});

describe('through a real BullMQ worker', () => {
  it('a broken file fails once and for good, with its reason; an unsupported one completes', async () => {
    const prefix = `${h.prefix}-q`;
    const workerRedis = createWorkerRedis(REDIS_URL);
    const producerRedis = createProducerRedis(REDIS_URL);
    const eventsRedis = createWorkerRedis(REDIS_URL);
    const producers = new Producers(producerRedis, prefix, h.logger);
    const events = new QueueEvents('extract', { connection: eventsRedis, prefix });
    const worker = createWorker('extract', (payload) => h.extract(payload), { connection: workerRedis, prefix, concurrency: 2, logger: h.logger });
    try {
      await events.waitUntilReady();
      void worker.run();
      const broken = Buffer.from('PK\u0003\u0004 not really a zip');
      const brokenJob = await h.storeArtifact({ filename: 'queue_pkg-1.0-py3-none-any.whl', project: 'queue-pkg', bytes: broken, sha256: sha256Hex(broken) });
      const bz = Buffer.from('BZh9 queue');
      const bzJob = await h.storeArtifact({ filename: 'queue_pkg-1.0.tar.bz2', project: 'queue-pkg', bytes: bz, sha256: sha256Hex(bz) });
      const a = await producers.addExtract(brokenJob);
      const b = await producers.addExtract(bzJob);
      await expect(a.waitUntilFinished(events, 30_000)).rejects.toThrow(/not a zip file/);
      expect(await b.waitUntilFinished(events, 30_000)).toMatchObject({ status: 'unsupported' });
      const failed = await Job.fromId(producers.extract, a.id!);
      expect(failed?.attemptsMade).toBe(1);
      expect(await failed?.getState()).toBe('failed');
      expect(failed?.failedReason).toMatch(/not a zip file/);
      expect(await h.prisma.release.findUnique({ where: { artifactSha256: brokenJob.sha256 } })).toMatchObject({ metadataStatus: 'failed', metadataError: 'not a zip file' });
    } finally {
      await worker.close();
      await events.close();
      await producers.extract.obliterate({ force: true }).catch(() => {});
      await producers.close();
      workerRedis.disconnect();
      producerRedis.disconnect();
      eventsRedis.disconnect();
    }
  });
});
