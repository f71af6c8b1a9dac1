import { promisify } from 'node:util';
import { crc32, inflateRaw } from 'node:zlib';
import { ArchiveError } from './errors.js';
import { formatBytes } from './limits.js';
import type { RangeSource } from './range-source.js';
import { readExact, type ZipEntry } from './zip-directory.js';

const inflateRawAsync = promisify(inflateRaw);

const LOCAL_SIG = 0x04034b50;
const LOCAL_LEN = 30;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;
const FLAG_ENCRYPTED = 0x1;
/** Deflate can expand incompressible input slightly (5 bytes per 16 KiB block, plus framing). */
const DEFLATE_SLACK = (n: number) => Math.ceil(n / 1000) + 1024;

/** Bounds for one entry's contents. */
export interface EntryLimits {
  maxMetadataBytes: number;
  maxCompressionRatio: number;
}

/**
 * Reads one entry's local header and data (two range reads) and returns its verified contents.
 * `label` names the file in error reasons ("METADATA", "PKG-INFO").
 */
export async function readZipEntry(
  source: RangeSource,
  entry: ZipEntry,
  limits: EntryLimits,
  label: string,
): Promise<Buffer> {
  checkDeclaredSizes(entry, limits, label);
  const dataStart = await locateData(source, entry);
  const data = await readExact(source, dataStart, entry.compressedSize);
  const bytes = await decompress(data, entry, label);
  if (bytes.length !== entry.uncompressedSize) throw new ArchiveError(`${label} size does not match the zip directory`);
  if (crc32(bytes) >>> 0 !== entry.crc32 >>> 0) throw new ArchiveError(`${label} fails its CRC-32 check`);
  return bytes;
}

function checkDeclaredSizes(entry: ZipEntry, limits: EntryLimits, label: string): void {
  if (entry.flags & FLAG_ENCRYPTED) throw new ArchiveError(`${label} is encrypted`);
  if (entry.method !== METHOD_STORED && entry.method !== METHOD_DEFLATE) {
    throw new ArchiveError(`${label} uses unsupported zip compression method ${entry.method}`);
  }
  const max = limits.maxMetadataBytes;
  if (entry.uncompressedSize > max || entry.compressedSize > max + DEFLATE_SLACK(max)) {
    throw new ArchiveError(`${label} larger than ${formatBytes(max)}`);
  }
  if (entry.method === METHOD_STORED && entry.compressedSize !== entry.uncompressedSize) {
    throw new ArchiveError(`${label} size does not match the zip directory`);
  }
  if (entry.uncompressedSize > Math.max(entry.compressedSize, 1) * limits.maxCompressionRatio) {
    throw new ArchiveError(`compression ratio exceeds ${limits.maxCompressionRatio}:1`);
  }
}

/** Offset of the entry's data, after checking the local header agrees with the directory. */
async function locateData(source: RangeSource, entry: ZipEntry): Promise<number> {
  const nameBytes = Buffer.byteLength(entry.name, entry.flags & 0x800 ? 'utf8' : 'latin1');
  if (entry.localHeaderOffset + LOCAL_LEN + nameBytes > source.size) throw new ArchiveError('corrupt local file header');
  const header = await readExact(source, entry.localHeaderOffset, LOCAL_LEN + nameBytes);
  if (header.readUInt32LE(0) !== LOCAL_SIG) throw new ArchiveError('corrupt local file header');
  const localName = header.subarray(LOCAL_LEN).toString(entry.flags & 0x800 ? 'utf8' : 'latin1');
  if (header.readUInt16LE(26) !== nameBytes || localName !== entry.name) {
    throw new ArchiveError('local file header does not match the zip directory');
  }
  return entry.localHeaderOffset + LOCAL_LEN + nameBytes + header.readUInt16LE(28);
}

async function decompress(data: Buffer, entry: ZipEntry, label: string): Promise<Buffer> {
  if (entry.method === METHOD_STORED) return data;
  try {
    // Output beyond the declared size is a lie: stop there rather than inflate the rest of a bomb.
    return await inflateRawAsync(data, { maxOutputLength: Math.max(entry.uncompressedSize, 1) });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ArchiveError(`${label} inflates beyond its declared size`, { cause: err });
    }
    throw new ArchiveError(`corrupt ${label} data`, { cause: err });
  }
}
