import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { ArchiveError, UnsupportedArchiveError } from './errors.js';
import { formatBytes } from './limits.js';
import { pkgInfoRank } from './pkg-info-path.js';
import type { MetadataFile } from './read-wheel-metadata.js';

/** Limits the tar scan applies. */
export interface TarScanLimits {
  maxMetadataBytes: number;
  maxEntries: number;
  maxDecompressedBytes: number;
}

const REGULAR_FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

/**
 * Streams a (possibly gzipped) tar until its top-level PKG-INFO has been read, then stops; the
 * caller destroys `source`. An egg-info PKG-INFO is kept as a fallback until the end of the stream.
 */
export async function scanTarForPkgInfo(source: Readable, limits: TarScanLimits): Promise<MetadataFile> {
  const scan = new PkgInfoScan(limits);
  const parser = new Parser({
    onReadEntry: (entry) => scan.onEntry(entry),
    // node-tar marks a cut-short archive by the entry it was reading (`data.entry`), not by a code.
    onwarn: (code, _message, data) => scan.onWarn(code, data.entry !== undefined),
  });
  // Only an abort reaches 'error' (a bare Parser is not strict): the bytes are not a tar.
  parser.on('error', (err: Error) => scan.fail('not a tar archive', err));

  let head: Buffer | undefined = Buffer.alloc(0);
  for await (const chunk of tarBytes(source, limits.maxDecompressedBytes)) {
    if (head) {
      // Held back until the compression sniff below has enough bytes to look at.
      head = Buffer.concat([head, chunk]);
      if (head.length < 4) continue;
      checkNotCompressed(head);
      const first = head;
      head = undefined;
      parser.write(first);
    } else {
      // Every entry is resumed or read by a synchronous data listener, so the parser never holds
      // more than this chunk and its write() return value can be ignored.
      parser.write(chunk);
    }
    scan.throwIfFailed();
    if (scan.found) return scan.found;
  }
  if (head) parser.write(head);
  scan.throwIfFailed();
  let ended = false;
  parser.once('end', () => (ended = true));
  parser.end();
  // The parser works synchronously on what it was given, so it has ended by now; if some input
  // ever left it waiting, failing beats waiting forever.
  await new Promise((resolve) => setImmediate(resolve));
  scan.throwIfFailed();
  if (!ended) throw new ArchiveError('corrupt tar archive');
  return scan.result();
}

/** Tracks entries as the parser emits them; failures are recorded, never thrown into the parser. */
class PkgInfoScan {
  found: MetadataFile | undefined;
  private fallback: MetadataFile | ArchiveError | undefined;
  private failure: ArchiveError | undefined;
  private entries = 0;

  constructor(private readonly limits: TarScanLimits) {}

  onEntry(entry: ReadEntry): void {
    // A bare Parser waits until each entry is consumed: everything not captured is drained.
    if (!this.capture(entry)) entry.resume();
  }

  /** Starts collecting `entry` if it is the PKG-INFO wanted; false when it is not. */
  private capture(entry: ReadEntry): boolean {
    if (++this.entries > this.limits.maxEntries) {
      this.fail(`more than ${this.limits.maxEntries} tar entries`);
      return false;
    }
    const rank = pkgInfoRank(entry.path);
    // Links and anything else that is not a regular file are never followed.
    if (rank === undefined || !REGULAR_FILE_TYPES.has(entry.type) || this.found || this.failure) return false;
    if (rank === 1 && this.fallback) return false;
    if (entry.size > this.limits.maxMetadataBytes) {
      const tooBig = new ArchiveError(`PKG-INFO larger than ${formatBytes(this.limits.maxMetadataBytes)}`);
      if (rank === 0) this.failure = tooBig;
      else this.fallback = tooBig;
      return false;
    }
    const chunks: Buffer[] = [];
    entry.on('data', (c: Buffer) => chunks.push(c));
    entry.on('end', () => {
      const file = { path: entry.path, bytes: Buffer.concat(chunks) };
      if (rank === 0) this.found = file;
      else this.fallback = file;
    });
    return true;
  }

  onWarn(code: string, truncated: boolean): void {
    if (code === 'TAR_BAD_ARCHIVE' || code === 'TAR_ABORT') this.fail(truncated ? 'truncated tar archive' : 'not a tar archive');
  }

  fail(reason: string, cause?: unknown): void {
    this.failure ??= new ArchiveError(reason, { cause });
  }

  throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  result(): MetadataFile {
    if (this.found) return this.found;
    if (this.fallback instanceof ArchiveError) throw this.fallback;
    if (this.fallback) return this.fallback;
    throw new ArchiveError('no PKG-INFO');
  }
}

/**
 * The archive's tar bytes: gunzipped when the stream starts with the gzip magic, whatever the
 * filename says; bzip2/xz/zstd are recognised to report them as unsupported. Fails once more than
 * `maxBytes` have come out, which bounds a gzip bomb.
 */
async function* tarBytes(source: Readable, maxBytes: number): AsyncGenerator<Buffer> {
  const input = source[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  let head = Buffer.alloc(0);
  while (head.length < 6) {
    const next = await input.next();
    if (next.done) break;
    head = Buffer.concat([head, asBuffer(next.value)]);
  }
  const compression = sniffCompression(head);
  if (compression !== 'gzip' && compression !== undefined) {
    throw new UnsupportedArchiveError(`${compression}-compressed sdists are not supported`);
  }
  const raw = Readable.from(prepend(head, input), { objectMode: false });
  let out: AsyncIterable<Buffer> = raw;
  if (compression === 'gzip') {
    const gunzip = createGunzip();
    raw.once('error', (err) => gunzip.destroy(err));
    out = raw.pipe(gunzip);
  }
  let total = 0;
  try {
    for await (const chunk of out) {
      total += chunk.length;
      if (total > maxBytes) {
        throw new ArchiveError(`archive holds more than ${formatBytes(maxBytes)} before PKG-INFO`);
      }
      yield chunk;
    }
  } catch (err) {
    if (err instanceof ArchiveError || err instanceof UnsupportedArchiveError) throw err;
    if (compression === 'gzip' && isZlibError(err)) throw new ArchiveError('corrupt gzip data', { cause: err });
    throw err;
  } finally {
    raw.destroy();
  }
}

async function* prepend(head: Buffer, rest: AsyncIterator<Buffer | string>): AsyncGenerator<Buffer> {
  if (head.length > 0) yield head;
  for (;;) {
    const next = await rest.next();
    if (next.done) return;
    yield asBuffer(next.value);
  }
}

function sniffCompression(head: Buffer): 'gzip' | 'bzip2' | 'xz' | 'zstd' | undefined {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
  return undefined;
}

/**
 * tar's Parser would transparently decompress a tar that is itself compressed (a gzip inside the
 * gzip), past our byte counter; no real tar starts with those magic numbers, so refuse it.
 */
function checkNotCompressed(tarHead: Buffer): void {
  if (sniffCompression(tarHead) !== undefined) throw new ArchiveError('not a tar archive');
}

function isZlibError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && code.startsWith('Z_');
}

function asBuffer(chunk: Buffer | string): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
}
