import { Readable } from 'node:stream';
import { ArchiveError } from './errors.js';
import type { RangeSource } from './range-source.js';
import type { ReadRegion, ZipEndRecord } from './zip-end-record.js';

/** The source `unzipper.Open.custom` reads through. */
export interface UnzipperSource {
  size(): Promise<number>;
  stream(offset: number, length?: number): Readable;
}

/** A byte range `unzipper` may stream from its start, with the bytes of that start already read (if any). */
interface Region {
  start: number;
  end: number;
  cached: Buffer;
}

/**
 * The range source as `unzipper` sees it, serving only the regions a metadata read needs: the end
 * records (from the tail already read), the central directory (exactly its declared size) and the
 * entries admitted by {@link admitEntry} (exactly header and data). `unzipper` asks for the directory
 * and the ZIP64 records with no length (to the end of the file) and for an entry with a guessed
 * 1,000 bytes of padding; each stream here ends where its region does, so the reads stay bounded by
 * tail + directory (≤ `maxCentralDirectoryBytes`) + one entry (≤ its checked compressed size),
 * whatever the archive declares. A stream anywhere else is a failure.
 *
 * Its streams never emit `'error'`: `unzipper` pipes the directory and entry streams without an error
 * listener, so an error there would crash the process. A failure (a storage error, a bound) is kept
 * in {@link failure} and the stream ends early, which `unzipper` reports as `FILE_ENDED`; callers
 * then throw {@link failure} rather than `unzipper`'s error.
 */
export class BoundedZipSource implements UnzipperSource {
  private readonly regions: Region[];
  private firstFailure: Error | undefined;

  constructor(
    private readonly source: RangeSource,
    readonly end: ZipEndRecord,
    endRegions: ReadRegion[],
  ) {
    // An empty directory (no entries, as readZipEndRecord checks) is not read at all.
    const directory = end.directorySize > 0 ? [{ start: end.directoryOffset, end: end.directoryOffset + end.directorySize, cached: Buffer.alloc(0) }] : [];
    this.regions = [...directory, ...endRegions.map((r) => ({ start: r.offset, end: r.offset + r.bytes.length, cached: r.bytes }))];
  }

  /** `unzipper`'s tail window: from the end record to the end of the file, so it finds that record first. */
  get tailSize(): number {
    return this.source.size - this.end.eocdOffset;
  }

  /** The first failure met while serving a stream, if any. */
  get failure(): Error | undefined {
    return this.firstFailure;
  }

  async size(): Promise<number> {
    return this.source.size;
  }

  stream(offset: number): Readable {
    const out = new Readable({ read() {} });
    const region = this.regionAt(offset);
    if (!region) {
      this.fail(new ArchiveError(`zip read outside its directory and entries (offset ${offset})`));
      out.push(null);
      return out;
    }
    this.readRegion(region).then(
      (bytes) => {
        if (bytes.length > 0) out.push(bytes);
        out.push(null);
      },
      (err: unknown) => {
        this.fail(err instanceof Error ? err : new Error(String(err)));
        out.push(null);
      },
    );
    return out;
  }

  /**
   * Admits one entry for streaming: reads its local header (`name` is its directory name, in the
   * directory's bytes) and checks what `unzipper` does not: the signature, and that the header names
   * the same file as the directory. Its data must end within the file.
   */
  async admitEntry(entry: { localHeaderOffset: number; compressedSize: number; nameBytes: Buffer }): Promise<void> {
    const headerLen = LOCAL_LEN + entry.nameBytes.length;
    if (entry.localHeaderOffset + headerLen > this.source.size) throw new ArchiveError('corrupt local file header');
    const header = await this.source.read(entry.localHeaderOffset, entry.localHeaderOffset + headerLen - 1);
    if (header.length !== headerLen || header.readUInt32LE(0) !== LOCAL_SIG) throw new ArchiveError('corrupt local file header');
    if (header.readUInt16LE(26) !== entry.nameBytes.length || !header.subarray(LOCAL_LEN).equals(entry.nameBytes)) {
      throw new ArchiveError('local file header does not match the zip directory');
    }
    const dataEnd = entry.localHeaderOffset + headerLen + header.readUInt16LE(28) + entry.compressedSize;
    if (dataEnd > this.source.size) throw new ArchiveError('truncated archive');
    this.regions.unshift({ start: entry.localHeaderOffset, end: dataEnd, cached: header });
  }

  /** The region starting at `offset`: an admitted entry first, then the directory, then an end record. */
  private regionAt(offset: number): Region | undefined {
    return this.regions.find((r) => r.start === offset);
  }

  /** The region's bytes: what was read already, and the rest in one read. */
  private async readRegion(region: Region): Promise<Buffer> {
    const from = region.start + region.cached.length;
    if (from >= region.end) return region.cached.subarray(0, region.end - region.start);
    const rest = await this.source.read(from, region.end - 1);
    if (rest.length !== region.end - from) throw new ArchiveError('truncated archive');
    return region.cached.length > 0 ? Buffer.concat([region.cached, rest]) : rest;
  }

  private fail(err: Error): void {
    this.firstFailure ??= err;
  }
}

const LOCAL_SIG = 0x04034b50;
const LOCAL_LEN = 30;
