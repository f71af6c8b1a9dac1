import type { Readable } from 'node:stream';
import { ZipFile } from 'yazl';
import { describe, expect, it } from 'vitest';
import { pseudoRandomBytes } from '../../../../test/support/dists.js';
import { BoundedZipSource } from './bounded-zip-source.js';
import { ArchiveError } from './errors.js';
import { bufferRangeSource, countingRangeSource, type RangeSource } from './range-source.js';
import { readWheelMetadata } from './read-wheel-metadata.js';
import { openZipArchive } from './zip-directory.js';
import { readZipEndRecord } from './zip-end-record.js';
import { archiveErrorReason } from '../../../../test/support/archive-errors.js';

const META = 'demo_pkg-1.0.dist-info/METADATA';
const WHEEL = 'demo_pkg-1.0-py3-none-any.whl';
const metadata = Buffer.from('Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\n');
const LIMITS = { maxCentralDirectoryBytes: 64 * 1024 * 1024, maxEntries: 1_000_000 };

async function zipOf(members: Array<{ name: string; data: Buffer | string; compress?: boolean }>, end: { forceZip64Format?: boolean } = {}): Promise<Buffer> {
  const zip = new ZipFile();
  for (const m of members) zip.addBuffer(Buffer.from(m.data), m.name, { compress: m.compress ?? true });
  zip.end({ comment: '', ...end } as Parameters<ZipFile['end']>[0]);
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Everything a stream gives, and whether it emitted 'error'. */
async function drain(stream: Readable): Promise<{ bytes: Buffer; errored: boolean }> {
  const chunks: Buffer[] = [];
  let errored = false;
  stream.on('error', () => {
    errored = true;
  });
  await new Promise<void>((resolve) => {
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', resolve);
    stream.on('close', resolve);
  });
  return { bytes: Buffer.concat(chunks), errored };
}

async function boundedOver(zip: Buffer, source: RangeSource = bufferRangeSource(zip)) {
  const { end, regions } = await readZipEndRecord(source, LIMITS);
  return new BoundedZipSource(source, end, regions);
}

describe('BoundedZipSource', () => {
  it('ends the directory stream at its declared size, though unzipper asks for no length', async () => {
    const zip = await zipOf([
      { name: META, data: metadata },
      { name: 'demo_pkg/data.bin', data: pseudoRandomBytes(4096) },
    ]);
    const bounded = await boundedOver(zip);
    const { bytes } = await drain(bounded.stream(bounded.end.directoryOffset));
    expect(bytes).toEqual(zip.subarray(bounded.end.directoryOffset, bounded.end.directoryOffset + bounded.end.directorySize));
    expect(bounded.tailSize).toBe(22);
  });

  it('ends an entry stream where its data ends, whatever length is asked', async () => {
    const zip = await zipOf([
      { name: META, data: metadata },
      { name: 'demo_pkg/data.bin', data: pseudoRandomBytes(4096) },
    ]);
    const { entries, source } = await openZipArchive(bufferRangeSource(zip), LIMITS);
    const entry = entries.find((e) => e.name === META)!;
    await source.admitEntry(entry);
    const { bytes } = await drain(source.stream(entry.localHeaderOffset));
    const dataEnd = entry.localHeaderOffset + 30 + entry.nameBytes.length + zip.readUInt16LE(entry.localHeaderOffset + 28) + entry.compressedSize;
    expect(bytes).toEqual(zip.subarray(entry.localHeaderOffset, dataEnd));
  });

  it('refuses a stream outside the end records, the directory and admitted entries, without an error event', async () => {
    const zip = await zipOf([{ name: META, data: metadata }]);
    const bounded = await boundedOver(zip);
    const { bytes, errored } = await drain(bounded.stream(1));
    expect(bytes.length).toBe(0);
    expect(errored).toBe(false);
    expect(bounded.failure).toBeInstanceOf(ArchiveError);
    expect((bounded.failure as ArchiveError).reason).toBe('zip read outside its directory and entries (offset 1)');
  });

  it('reads the tail, the directory and one entry, each once and no further', async () => {
    const zip = await zipOf([
      { name: META, data: metadata },
      { name: 'demo_pkg/after.bin', data: pseudoRandomBytes(8192), compress: false },
    ]);
    const src = countingRangeSource(bufferRangeSource(zip));
    expect((await readWheelMetadata(src, WHEEL)).bytes).toEqual(metadata);
    const { end } = await readZipEndRecord(bufferRangeSource(zip), LIMITS);
    const { entries } = await openZipArchive(bufferRangeSource(zip), LIMITS);
    const localExtra = zip.readUInt16LE(28);
    const compressed = entries.find((e) => e.name === META)!.compressedSize;
    expect(src.requests).toBe(4);
    // unzipper would stream 1,000 bytes of padding past the entry; the source stops at its end.
    expect(src.bytesRead).toBe(zip.length + end.directorySize + 30 + Buffer.byteLength(META) + localExtra + compressed);
  });
});

describe('bounds enforced before unzipper reads the directory', () => {
  it('refuses a ZIP64 record declaring more entries than the bound, before any is parsed', async () => {
    const zip = await zipOf([{ name: META, data: metadata }], { forceZip64Format: true });
    const record = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x06, 0x06]));
    zip.writeBigUInt64LE(2n ** 40n, record + 24);
    zip.writeBigUInt64LE(2n ** 40n, record + 32);
    expect(await archiveErrorReason(readWheelMetadata(bufferRangeSource(zip), WHEEL))).toBe('more than 1000000 zip entries');
  });

  it('refuses a directory too small for the entries it declares', async () => {
    const zip = await zipOf([
      { name: META, data: metadata },
      { name: 'demo_pkg/a.py', data: '' },
    ]);
    const eocd = zip.length - 22;
    zip.writeUInt16LE(40, eocd + 8);
    zip.writeUInt16LE(40, eocd + 10);
    expect(await archiveErrorReason(readWheelMetadata(bufferRangeSource(zip), WHEEL))).toBe('corrupt central directory');
  });

  it('reads an empty zip as one without METADATA', async () => {
    expect(await archiveErrorReason(readWheelMetadata(bufferRangeSource(await zipOf([])), WHEEL))).toBe('no .dist-info/METADATA');
  });
});

describe('failures of the storage underneath', () => {
  it.each([1, 2, 3, 4])('read %i failing reaches the caller as itself (retried), not as an archive error', async (failing) => {
    const zip = await zipOf([{ name: META, data: metadata }]);
    const inner = bufferRangeSource(zip);
    const down = new Error('storage unavailable');
    let reads = 0;
    const flaky: RangeSource = {
      size: inner.size,
      read: async (start, end) => {
        reads += 1;
        if (reads === failing) throw down;
        return inner.read(start, end);
      },
    };
    await expect(readWheelMetadata(flaky, WHEEL)).rejects.toBe(down);
  });
});
