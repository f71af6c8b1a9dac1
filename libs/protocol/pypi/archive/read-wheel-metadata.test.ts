import { open, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { ZipFile } from 'yazl';
import { afterAll, describe, expect, it } from 'vitest';
import { buildWheel, buildWheelToFile, pseudoRandomBytes } from '../../../../test/support/dists.js';
import { ArchiveError } from './errors.js';
import { bufferRangeSource, countingRangeSource, type RangeSource } from './range-source.js';
import { readWheelMetadata } from './read-wheel-metadata.js';
import { archiveErrorReason } from '../../../../test/support/archive-errors.js';

interface Member {
  name: string;
  data: string | Buffer;
  compress?: boolean;
}

async function zipOf(members: Member[], end: { comment?: string; forceZip64Format?: boolean } = {}): Promise<Buffer> {
  const zip = new ZipFile();
  for (const m of members) zip.addBuffer(Buffer.from(m.data), m.name, { compress: m.compress ?? true });
  zip.end({ ...end } as { comment: string; forceZip64Format: boolean });
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Same-length name substitution in local headers and central directory (yazl refuses bad names). */
function renameMember(zip: Buffer, from: string, to: string): Buffer {
  expect(to.length).toBe(from.length);
  const out = Buffer.from(zip);
  for (let at = out.indexOf(from); at >= 0; at = out.indexOf(from, at + 1)) out.write(to, at, 'latin1');
  return out;
}

/** Offset of the central-directory header for `name`. */
function centralHeader(zip: Buffer, name: string): number {
  for (let at = zip.indexOf('PK\u0001\u0002'); at >= 0; at = zip.indexOf('PK\u0001\u0002', at + 1)) {
    const len = zip.readUInt16LE(at + 28);
    if (zip.subarray(at + 46, at + 46 + len).toString() === name) return at;
  }
  throw new Error(`no central header for ${name}`);
}

const META = 'demo_pkg-1.0.dist-info/METADATA';
const metadata = Buffer.from('Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\n');

async function read(zip: Buffer, filename = 'demo_pkg-1.0-py3-none-any.whl', limits = {}) {
  return readWheelMetadata(bufferRangeSource(zip), filename, limits);
}

describe('readWheelMetadata', () => {
  it('reads METADATA from a wheel built by the fixture', async () => {
    const wheel = await buildWheel({ name: 'Demo.Pkg', version: '1.0', requiresDist: ['x>1'] });
    const src = countingRangeSource(bufferRangeSource(wheel.bytes));
    const got = await readWheelMetadata(src, wheel.filename);
    expect(got).toEqual({ path: 'demo_pkg-1.0.dist-info/METADATA', bytes: wheel.metadata });
    expect(src.requests).toBe(4);
  });

  it.each([true, false])('reads a %s-deflated entry with a zip comment', async (compress) => {
    const built = await zipOf(
      [
        { name: 'demo_pkg/__init__.py', data: '' },
        { name: META, data: metadata, compress },
      ],
      { comment: `built by test QQQQ${'x'.repeat(300)}` },
    );
    // A comment that itself contains an EOCD signature must not confuse the tail scan.
    const zip = renameMember(built, 'QQQQ', 'PK\u0005\u0006');
    expect((await read(zip)).bytes).toEqual(metadata);
  });

  it('reads ZIP64 archives (as written for >4 GB or >65535 entries)', async () => {
    const zip = await zipOf([{ name: META, data: metadata }], { forceZip64Format: true });
    const eocd = zip.length - 22;
    expect(zip.readUInt16LE(eocd + 10)).toBe(0xffff);
    expect(zip.readUInt32LE(eocd + 16)).toBe(0xffffffff);
    expect((await read(zip)).bytes).toEqual(metadata);
  });

  it('bounds the entry count and the central directory size', async () => {
    const zip = await zipOf([
      { name: 'demo_pkg/a.py', data: '' },
      { name: META, data: metadata },
    ]);
    expect(await archiveErrorReason(read(zip, undefined, { maxEntries: 1 }))).toBe('more than 1 zip entries');
    expect(await archiveErrorReason(read(zip, undefined, { maxCentralDirectoryBytes: 64 }))).toBe('central directory larger than 64 bytes');
  });

  it('chooses among several dist-info directories by normalised name and version', async () => {
    const zip = await zipOf([
      { name: 'other-2.0.dist-info/METADATA', data: 'other' },
      { name: 'Demo_PKG-1.0.dist-info/METADATA', data: metadata },
      { name: 'demo_pkg-0.9.dist-info/METADATA', data: 'old' },
    ]);
    expect(await read(zip, 'demo.pkg-1.0-py3-none-any.whl')).toEqual({ path: 'Demo_PKG-1.0.dist-info/METADATA', bytes: metadata });
    const sameNameOnly = await zipOf([
      { name: 'other-2.0.dist-info/METADATA', data: 'other' },
      { name: 'Demo_Pkg-1.0.dist-info/METADATA', data: metadata },
    ]);
    expect((await read(sameNameOnly, 'demo_pkg-1.0.post1-py3-none-any.whl')).bytes).toEqual(metadata);
    const ambiguous = await zipOf([
      { name: 'a-1.dist-info/METADATA', data: 'a' },
      { name: 'b-1.dist-info/METADATA', data: 'b' },
    ]);
    expect(await archiveErrorReason(read(ambiguous))).toBe('several .dist-info directories, none matching the filename');
  });

  it('takes a single dist-info whose case differs from the filename', async () => {
    const zip = await zipOf([{ name: 'DEMO_Pkg-1.0.dist-info/METADATA', data: metadata }]);
    expect((await read(zip)).path).toBe('DEMO_Pkg-1.0.dist-info/METADATA');
  });

  it('ignores nested, traversing, absolute and backslashed names', async () => {
    const members = [
      { name: 'vendor/x-1.dist-info/METADATA', data: 'nested' },
      { name: 'aa/bb/demo-1.dist-info/METADATA', data: 'dotdot' },
      { name: 'xdemo-1.0.dist-info/METADATA', data: 'absolute' },
      { name: 'demo-1.0.dist-infoxMETADATA', data: 'backslash' },
    ];
    let zip = await zipOf(members);
    zip = renameMember(zip, 'aa/bb/demo-1.dist-info/METADATA', 'aa/../demo-1.dist-info/METADATA');
    zip = renameMember(zip, 'xdemo-1.0.dist-info/METADATA', '/demo-1.0.dist-info/METADATA');
    zip = renameMember(zip, 'demo-1.0.dist-infoxMETADATA', 'demo-1.0.dist-info\\METADATA');
    expect(await archiveErrorReason(read(zip))).toBe('no .dist-info/METADATA');
  });

  it('rejects duplicate METADATA entries', async () => {
    const zip = await zipOf([
      { name: META, data: metadata },
      { name: 'demo_pkg-1.0.dist-info/METADATX', data: 'evil' },
    ]);
    expect(await archiveErrorReason(read(renameMember(zip, 'METADATX', 'METADATA')))).toBe('duplicate .dist-info/METADATA entries');
  });

  it('rejects a METADATA inflating beyond its declared size', async () => {
    const zip = await zipOf([{ name: META, data: Buffer.alloc(2 * 1024 * 1024, 'a') }]);
    const cd = centralHeader(zip, META);
    zip.writeUInt32LE(1000, cd + 24);
    expect(await archiveErrorReason(read(zip))).toBe('METADATA inflates beyond its declared size');
  });

  it('rejects a METADATA over the size limit or the compression ratio', async () => {
    const huge = await zipOf([{ name: META, data: Buffer.alloc(11 * 1024 * 1024, 'a') }]);
    expect(await archiveErrorReason(read(huge))).toBe('METADATA larger than 4 MiB');
    const dense = await zipOf([{ name: META, data: Buffer.alloc(1024 * 1024, 'a') }]);
    expect(await archiveErrorReason(read(dense))).toBe('compression ratio exceeds 200:1');
    expect((await read(dense, undefined, { maxCompressionRatio: 5000 })).bytes.length).toBe(1024 * 1024);
  });

  it('checks the CRC-32 and the stored size', async () => {
    const zip = await zipOf([{ name: META, data: metadata, compress: false }]);
    const bad = Buffer.from(zip);
    bad.writeUInt32LE((bad.readUInt32LE(centralHeader(bad, META) + 16) ^ 1) >>> 0, centralHeader(bad, META) + 16);
    expect(await archiveErrorReason(read(bad))).toBe('METADATA fails its CRC-32 check');
    const flipped = Buffer.from(zip);
    flipped[flipped.indexOf('Name: demo') + 6] = 0x44;
    expect(await archiveErrorReason(read(flipped))).toBe('METADATA fails its CRC-32 check');
  });

  it('rejects unsupported compression methods', async () => {
    const zip = await zipOf([{ name: META, data: metadata }]);
    zip.writeUInt16LE(12, centralHeader(zip, META) + 10);
    expect(await archiveErrorReason(read(zip))).toBe('METADATA uses unsupported zip compression method 12');
  });

  it('reports not-a-zip, truncation, corruption and missing METADATA', async () => {
    const zip = await zipOf([
      { name: 'demo_pkg/__init__.py', data: 'x = 1\n'.repeat(100) },
      { name: META, data: metadata },
    ]);
    expect(await archiveErrorReason(read(Buffer.from('not a zip at all')))).toBe('not a zip file');
    expect(await archiveErrorReason(read(Buffer.alloc(0)))).toBe('not a zip file');
    expect(await archiveErrorReason(read(zip.subarray(0, zip.length - 5)))).toBe('not a zip file');
    const tailOnly = zip.subarray(zip.indexOf('PK\u0001\u0002'));
    expect(await archiveErrorReason(read(tailOnly))).toBe('corrupt central directory');
    const badCd = Buffer.from(zip);
    badCd.fill(0, centralHeader(badCd, META), centralHeader(badCd, META) + 4);
    expect(await archiveErrorReason(read(badCd))).toBe('corrupt central directory');
    const badLocal = Buffer.from(zip);
    badLocal.writeUInt32LE(0, badLocal.readUInt32LE(centralHeader(badLocal, META) + 42));
    expect(await archiveErrorReason(read(badLocal))).toBe('corrupt local file header');
    const noMeta = await zipOf([{ name: 'demo_pkg/__init__.py', data: '' }]);
    expect(await archiveErrorReason(read(noMeta))).toBe('no .dist-info/METADATA');
  });

  it('never throws anything but ArchiveError on mangled input', async () => {
    const wheel = await buildWheel({ name: 'demo', version: '1.0', files: { 'demo/x.py': 'y = 2\n'.repeat(50) } });
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 400; i++) {
      const buf = Buffer.from(wheel.bytes.subarray(0, i % 4 === 0 ? rand(wheel.bytes.length) : wheel.bytes.length));
      for (let k = 0; k < 1 + rand(4); k++) if (buf.length) buf[rand(buf.length)] = rand(256);
      await readWheelMetadata(bufferRangeSource(buf), wheel.filename).catch((e: unknown) => {
        if (!(e instanceof ArchiveError)) throw e;
      });
    }
  });
});

describe('readWheelMetadata on a 200 MB wheel', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('reads only kilobytes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'orchard-wheel-'));
    dirs.push(dir);
    const built = await buildWheelToFile(join(dir, 'big.whl'), {
      name: 'big-pkg',
      version: '3.0',
      requiresDist: ['numpy'],
      padBytes: 200 * 1024 * 1024,
    });
    expect(built.size).toBeGreaterThan(200 * 1024 * 1024);
    const handle = await open(built.path);
    try {
      const file: RangeSource = {
        size: built.size,
        async read(start, endInclusive) {
          const buf = Buffer.alloc(endInclusive - start + 1);
          const { bytesRead } = await handle.read(buf, 0, buf.length, start);
          return buf.subarray(0, bytesRead);
        },
      };
      const src = countingRangeSource(file);
      const got = await readWheelMetadata(src, built.filename);
      expect(got.bytes).toEqual(built.metadata);
      expect(got.path).toBe('big_pkg-3.0.dist-info/METADATA');
      expect(src.bytesRead).toBeLessThan(1024 * 1024);
      expect(src.requests).toBeLessThanOrEqual(4);
    } finally {
      await handle.close();
    }
  });
});

describe('pseudoRandomBytes', () => {
  it('is deterministic and incompressible, so padding really costs its size', () => {
    const bytes = pseudoRandomBytes(1 << 20);
    expect(bytes.equals(pseudoRandomBytes(1 << 20))).toBe(true);
    expect(deflateRawSync(bytes).length).toBeGreaterThan(bytes.length);
  });
});
