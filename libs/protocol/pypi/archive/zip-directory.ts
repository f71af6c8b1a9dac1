/**
 * The zip central directory, read by random access with `unzipper` (`Open.custom`) through a
 * {@link BoundedZipSource}: the tail, the directory and later one entry, nothing else.
 */
import type { Readable } from 'node:stream';
import { Open, type CentralDirectory, type File } from 'unzipper';
import { BoundedZipSource, type UnzipperSource } from './bounded-zip-source.js';
import { ArchiveError } from './errors.js';
import type { RangeSource } from './range-source.js';
import { readZipEndRecord } from './zip-end-record.js';

/** One central-directory record, with ZIP64 values already applied. */
export interface ZipEntry {
  name: string;
  /** The name as stored in the directory. */
  nameBytes: Buffer;
  flags: number;
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
  /** A Unix symlink (its data is the target path): never read as a file. */
  isSymlink: boolean;
  /** `unzipper`'s stream of the entry's contents (inflated, unchecked); only after {@link ZipArchive.source}.admitEntry. */
  open(): Readable;
}

/** An opened zip: its entries and the bounded source they are read through. */
export interface ZipArchive {
  entries: ZipEntry[];
  source: BoundedZipSource;
}

/** `Open.custom` as unzipper 0.12 implements it (its types predate the options argument). */
const openCustom = Open.custom as unknown as (source: UnzipperSource, options: { tailSize: number }) => Promise<CentralDirectory>;

const CDH_SIG = 0x02014b50;
const FLAG_UTF8 = 0x800;
const MADE_BY_UNIX = 3;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

/** Locates the central directory, checks its declared bounds, and parses it with `unzipper`. */
export async function openZipArchive(source: RangeSource, limits: { maxCentralDirectoryBytes: number; maxEntries: number }): Promise<ZipArchive> {
  const { end, regions } = await readZipEndRecord(source, limits);
  const bounded = new BoundedZipSource(source, end, regions);
  let directory: CentralDirectory;
  try {
    directory = await openCustom(bounded, { tailSize: bounded.tailSize });
  } catch (err) {
    throw bounded.failure ?? new ArchiveError('corrupt central directory', { cause: err });
  }
  if (directory.files.length !== end.entries) throw new ArchiveError('corrupt central directory');
  return { entries: directory.files.map(toEntry), source: bounded };
}

/**
 * `unzipper` parses the records without checking their signature, and leaves a size it could not
 * find in a ZIP64 extra field undefined: both are refused here.
 */
function toEntry(file: File): ZipEntry {
  if (file.signature !== CDH_SIG) throw new ArchiveError('corrupt central directory');
  for (const value of [file.compressedSize, file.uncompressedSize, file.offsetToLocalFileHeader]) {
    if (!Number.isSafeInteger(value) || value < 0) throw new ArchiveError('corrupt ZIP64 extra field');
  }
  return {
    // Non-UTF-8 names are CP437; latin1 agrees on ASCII, which is all a lookup ever matches.
    name: file.pathBuffer.toString(file.flags & FLAG_UTF8 ? 'utf8' : 'latin1'),
    nameBytes: file.pathBuffer,
    flags: file.flags,
    method: file.compressionMethod,
    crc32: file.crc32,
    compressedSize: file.compressedSize,
    uncompressedSize: file.uncompressedSize,
    localHeaderOffset: file.offsetToLocalFileHeader,
    isSymlink: file.versionMadeBy >>> 8 === MADE_BY_UNIX && ((file.externalFileAttributes >>> 16) & S_IFMT) === S_IFLNK,
    open: () => file.stream(),
  };
}
