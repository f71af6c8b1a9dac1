import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ZipFile } from 'yazl';
import { buildSdist, buildTar, pseudoRandomBytes, type TarEntry } from '../../../../test/support/dists.js';
import { ArchiveError, UnsupportedArchiveError } from './errors.js';
import { bufferRangeSource } from './range-source.js';
import { readSdistPkgInfo } from './read-sdist-metadata.js';

const PKG_INFO = 'Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n';

/** A source that hands out `bytes` in 64 KiB chunks, counting what was pulled and noting destroy. */
function countingStream(bytes: Buffer) {
  const stats = { pulled: 0, opened: 0, stream: undefined as Readable | undefined };
  const open = async (): Promise<Readable> => {
    stats.opened += 1;
    let at = 0;
    const stream = new Readable({
      read() {
        if (at >= bytes.length) return void this.push(null);
        const chunk = bytes.subarray(at, at + 65536);
        at += chunk.length;
        stats.pulled += chunk.length;
        this.push(chunk);
      },
    });
    stats.stream = stream;
    return stream;
  };
  return { open, stats };
}

const tgz = (entries: TarEntry[]) => gzipSync(buildTar(entries));

async function readTgz(bytes: Buffer, filename = 'demo-1.0.tar.gz', limits = {}) {
  return readSdistPkgInfo(countingStream(bytes).open, filename, limits);
}

async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: Error) => e,
  );
}

async function reason(p: Promise<unknown>): Promise<string> {
  const err = await failure(p);
  expect(err).toBeInstanceOf(ArchiveError);
  return (err as ArchiveError).reason;
}

describe('readSdistPkgInfo (tar)', () => {
  it('reads the fixture sdist', async () => {
    const sdist = await buildSdist({ name: 'Demo', version: '1.0', requiresDist: ['six'] });
    const got = await readTgz(sdist.bytes, sdist.filename);
    expect(got).toEqual({ path: 'demo-1.0/PKG-INFO', bytes: sdist.pkgInfo });
  });

  it('prefers the top-level PKG-INFO over an earlier egg-info one', async () => {
    const bytes = tgz([
      { path: 'demo-1.0/', type: 'dir' },
      { path: 'demo-1.0/demo.egg-info/PKG-INFO', body: 'egg' },
      { path: 'demo-1.0/vendor/x/PKG-INFO', body: 'vendored' },
      { path: 'demo-1.0/PKG-INFO', body: PKG_INFO },
    ]);
    expect(await readTgz(bytes)).toEqual({ path: 'demo-1.0/PKG-INFO', bytes: Buffer.from(PKG_INFO) });
  });

  it('falls back to the egg-info PKG-INFO', async () => {
    const bytes = tgz([
      { path: './demo-1.0/src/demo.egg-info/PKG-INFO', body: 'too deep' },
      { path: './demo-1.0/demo.egg-info/PKG-INFO', body: PKG_INFO },
    ]);
    expect(await readTgz(bytes)).toEqual({ path: './demo-1.0/demo.egg-info/PKG-INFO', bytes: Buffer.from(PKG_INFO) });
  });

  it('reads a plain .tar', async () => {
    const tar = buildTar([{ path: 'demo-1.0/PKG-INFO', body: PKG_INFO }]);
    expect((await readTgz(tar, 'demo-1.0.tar')).bytes.toString()).toBe(PKG_INFO);
  });

  it('stops streaming as soon as PKG-INFO has been read', async () => {
    const bytes = tgz([
      { path: 'demo-1.0/PKG-INFO', body: PKG_INFO },
      { path: 'demo-1.0/data.bin', body: pseudoRandomBytes(30 * 1024 * 1024) },
      { path: 'demo-1.0/setup.py', body: '' },
    ]);
    const { open, stats } = countingStream(bytes);
    const got = await readSdistPkgInfo(open, 'demo-1.0.tar.gz');
    expect(got.bytes.toString()).toBe(PKG_INFO);
    expect(stats.pulled).toBeLessThan(1024 * 1024);
    expect(stats.stream?.destroyed).toBe(true);
  });

  it('never follows links named PKG-INFO', async () => {
    const bytes = tgz([
      { path: 'demo-1.0/PKG-INFO', type: 'symlink', linkpath: '/etc/passwd' },
      { path: 'other-1.0/PKG-INFO', type: 'hardlink', linkpath: 'demo-1.0/setup.py' },
      { path: 'demo-1.0/demo.egg-info/PKG-INFO', body: PKG_INFO },
    ]);
    expect((await readTgz(bytes)).path).toBe('demo-1.0/demo.egg-info/PKG-INFO');
    const onlyLink = tgz([{ path: 'demo-1.0/PKG-INFO', type: 'symlink', linkpath: '../../etc/passwd' }]);
    expect(await reason(readTgz(onlyLink))).toBe('no PKG-INFO');
  });

  it('ignores absolute and traversing paths', async () => {
    const bytes = tgz([
      { path: '/demo-1.0/PKG-INFO', body: 'absolute' },
      { path: '../demo-1.0/PKG-INFO', body: 'dotdot' },
      { path: 'x/../PKG-INFO', body: 'dotdot' },
      { path: 'demo-1.0/PKG-INFO', body: PKG_INFO },
    ]);
    expect((await readTgz(bytes)).bytes.toString()).toBe(PKG_INFO);
  });

  it('bounds PKG-INFO size, entry count and decompressed bytes', async () => {
    const big = tgz([{ path: 'demo-1.0/PKG-INFO', body: Buffer.alloc(2048, 'a') }]);
    expect(await reason(readTgz(big, undefined, { maxMetadataBytes: 1024 }))).toBe('PKG-INFO larger than 1 KiB');
    const many = tgz(Array.from({ length: 50 }, (_, i) => ({ path: `demo-1.0/f${i}`, body: '' })));
    expect(await reason(readTgz(many, undefined, { maxEntries: 10 }))).toBe('more than 10 tar entries');
    const bomb = tgz([
      { path: 'demo-1.0/zeros', body: Buffer.alloc(20 * 1024 * 1024) },
      { path: 'demo-1.0/PKG-INFO', body: PKG_INFO },
    ]);
    expect(bomb.length).toBeLessThan(100 * 1024);
    expect(await reason(readTgz(bomb, undefined, { maxDecompressedBytes: 8 * 1024 * 1024 }))).toBe('archive holds more than 8 MiB before PKG-INFO');
  });

  it('refuses a tar that is itself compressed again', async () => {
    const inner = tgz([{ path: 'demo-1.0/PKG-INFO', body: PKG_INFO }]);
    expect(await reason(readTgz(gzipSync(inner)))).toBe('not a tar archive');
  });

  it('reports broken gzip and tar data as ArchiveError', async () => {
    expect(await reason(readTgz(Buffer.from('\u001f\u008bthis is not gzip at all', 'latin1')))).toBe('corrupt gzip data');
    const good = tgz([
      { path: 'demo-1.0/setup.py', body: pseudoRandomBytes(100_000) },
      { path: 'demo-1.0/PKG-INFO', body: PKG_INFO },
    ]);
    expect(await reason(readTgz(good.subarray(0, good.length / 2)))).toBe('corrupt gzip data');
    expect(await reason(readTgz(gzipSync(Buffer.from('garbage '.repeat(1000)))))).toBe('not a tar archive');
    expect(await reason(readTgz(Buffer.alloc(0)))).toBe('not a tar archive');
    const tar = buildTar([
      { path: 'demo-1.0/setup.py', body: Buffer.alloc(5000, 1) },
      { path: 'demo-1.0/PKG-INFO', body: PKG_INFO },
    ]);
    expect(await reason(readTgz(gzipSync(tar.subarray(0, 3000))))).toBe('truncated tar archive');
  });

  it('survives mangled archives with ArchiveError only, and never hangs', async () => {
    const tar = buildTar([
      { path: 'demo-1.0/', type: 'dir' },
      { path: 'demo-1.0/link', type: 'symlink', linkpath: 'setup.py' },
      { path: 'demo-1.0/setup.py', body: 'x = 1\n'.repeat(200) },
      { path: 'demo-1.0/demo.egg-info/PKG-INFO', body: PKG_INFO },
      { path: 'demo-1.0/PKG-INFO', body: PKG_INFO },
    ]);
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 400; i++) {
      // Mangle the tar itself: mangling the gzip would mostly just fail its CRC.
      const buf = Buffer.from(tar.subarray(0, i % 3 === 0 ? rand(tar.length) : tar.length));
      for (let k = 0; k < 1 + rand(6); k++) if (buf.length) buf[rand(buf.length)] = rand(256);
      await readTgz(gzipSync(buf)).catch((e: unknown) => {
        if (!(e instanceof ArchiveError)) throw e;
      });
    }
  });

  it('passes source I/O errors through unchanged', async () => {
    const boom = new Error('disk on fire');
    const open = async () =>
      new Readable({
        read() {
          this.destroy(boom);
        },
      });
    expect(await failure(readSdistPkgInfo(open, 'demo-1.0.tar.gz'))).toBe(boom);
  });
});

describe('readSdistPkgInfo (other formats)', () => {
  it('reads a .zip sdist by random access', async () => {
    const sdist = await buildSdist({ name: 'demo', version: '1.0', format: 'zip' });
    const got = await readSdistPkgInfo(() => Promise.reject(new Error('zip must not be streamed')), sdist.filename, undefined, bufferRangeSource(sdist.bytes));
    expect(got).toEqual({ path: 'demo-1.0/PKG-INFO', bytes: sdist.pkgInfo });
  });

  it('prefers the zip directory named like the file, then any top level, then egg-info', async () => {
    const zip = new ZipFile();
    zip.addBuffer(Buffer.from('egg'), 'demo-1.0/demo.egg-info/PKG-INFO');
    zip.addBuffer(Buffer.from('other'), 'other-2.0/PKG-INFO');
    zip.addBuffer(Buffer.from(PKG_INFO), 'demo-1.0/PKG-INFO');
    zip.end();
    const chunks: Buffer[] = [];
    for await (const c of zip.outputStream) chunks.push(c as Buffer);
    const src = bufferRangeSource(Buffer.concat(chunks));
    const noStream = () => Promise.reject(new Error('zip must not be streamed'));
    expect((await readSdistPkgInfo(noStream, 'demo-1.0.zip', undefined, src)).path).toBe('demo-1.0/PKG-INFO');
    expect((await readSdistPkgInfo(noStream, 'renamed-1.0.zip', undefined, src)).path).toBe('other-2.0/PKG-INFO');
  });

  it('reports bzip2 and xz as unsupported without reading', async () => {
    const { open, stats } = countingStream(Buffer.from('BZh91AY&SY'));
    for (const name of ['demo-1.0.tar.bz2', 'demo-1.0.tar.xz']) {
      const err = await failure(readSdistPkgInfo(open, name));
      expect(err).toBeInstanceOf(UnsupportedArchiveError);
    }
    expect(stats.opened).toBe(0);
    const misnamed = await failure(readSdistPkgInfo(open, 'demo-1.0.tar.gz'));
    expect(misnamed).toBeInstanceOf(UnsupportedArchiveError);
    expect((misnamed as UnsupportedArchiveError).reason).toBe('bzip2-compressed sdists are not supported');
  });
});
