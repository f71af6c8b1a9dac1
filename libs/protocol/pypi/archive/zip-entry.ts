import { crc32 } from 'node:zlib';
import { ArchiveError } from './errors.js';
import { formatBytes } from './limits.js';
import type { ZipArchive, ZipEntry } from './zip-directory.js';

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
 * Reads one entry's contents through `unzipper` and returns them verified. Around its stream: the
 * declared sizes, ratio, method and encryption are checked before reading; the local header is
 * checked by the source; the output is cut off once it exceeds the declared size (a bomb inflates no
 * further), then its length and CRC-32 are checked. `label` names the file in error reasons
 * ("METADATA", "PKG-INFO").
 */
export async function readZipEntry(zip: ZipArchive, entry: ZipEntry, limits: EntryLimits, label: string): Promise<Buffer> {
  checkDeclaredSizes(entry, limits, label);
  await zip.source.admitEntry(entry);
  // With 0 compressed bytes in the directory, unzipper trusts the local header instead, which may
  // promise a data descriptor to search for: an empty entry needs no reading.
  const bytes = entry.compressedSize === 0 ? Buffer.alloc(0) : await readBounded(zip, entry, label);
  if (bytes.length !== entry.uncompressedSize) throw new ArchiveError(`${label} size does not match the zip directory`);
  if (crc32(bytes) >>> 0 !== entry.crc32 >>> 0) throw new ArchiveError(`${label} fails its CRC-32 check`);
  return bytes;
}

function checkDeclaredSizes(entry: ZipEntry, limits: EntryLimits, label: string): void {
  if (entry.flags & FLAG_ENCRYPTED) throw new ArchiveError(`${label} is encrypted`);
  // unzipper inflates any method but 0 as deflate.
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

/** The entry's stream, collected up to one byte past its declared size. */
function readBounded(zip: ZipArchive, entry: ZipEntry, label: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const stream = entry.open();
    const chunks: Buffer[] = [];
    let length = 0;
    const fail = (err: unknown) => reject(translate(zip, err, label));
    // Stays attached after the promise settles: unzipper re-emits its inflater's errors on this
    // stream even after it is destroyed, and an 'error' without a listener would crash the process.
    stream.on('error', fail);
    stream.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > entry.uncompressedSize) {
        stream.destroy();
        reject(new ArchiveError(`${label} inflates beyond its declared size`));
        return;
      }
      chunks.push(chunk);
    });
    stream.on('end', () => resolve(Buffer.concat(chunks, length)));
  });
}

/** A failure of the source (storage, bounds) as itself; unzipper's own errors as archive errors. */
function translate(zip: ZipArchive, err: unknown, label: string): Error {
  if (zip.source.failure) return zip.source.failure;
  // unzipper signals a stream that ended early only by this message (a plain Error, no code).
  if (err instanceof Error && err.message === 'FILE_ENDED') return new ArchiveError('truncated archive', { cause: err });
  return new ArchiveError(`corrupt ${label} data`, { cause: err });
}
