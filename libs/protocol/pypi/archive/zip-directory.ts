/**
 * The zip central directory, read by random access.
 *
 * Implemented on the zip structures directly rather than with `unzipper`: `Open.custom` reads the
 * tail and central directory through us, but it has no bound on central-directory size or entry
 * count, and its entry streams read to the end of the requested range without the size, ratio and
 * CRC checks we need on hostile input. The format is small (APPNOTE.TXT §4.3) and this keeps every
 * read explicit: one tail read, one central-directory read, then one entry.
 */
import { ArchiveError } from './errors.js';
import { formatBytes } from './limits.js';
import type { RangeSource } from './range-source.js';

/** One central-directory record, with ZIP64 values already applied. */
export interface ZipEntry {
  name: string;
  flags: number;
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
  /** A Unix symlink (its data is the target path): never read as a file. */
  isSymlink: boolean;
}

const EOCD_SIG = 0x06054b50;
const EOCD_LEN = 22;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_LOCATOR_LEN = 20;
const ZIP64_EOCD_SIG = 0x06064b50;
const ZIP64_EOCD_LEN = 56;
const CDH_SIG = 0x02014b50;
const CDH_LEN = 46;
const MAX_COMMENT = 0xffff;
const FLAG_UTF8 = 0x800;
const MADE_BY_UNIX = 3;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;

/** Reads exactly `length` bytes at `offset`, or fails as a truncated archive. */
export async function readExact(source: RangeSource, offset: number, length: number): Promise<Buffer> {
  if (length === 0) return Buffer.alloc(0);
  if (offset < 0 || length < 0 || offset + length > source.size) {
    throw new ArchiveError('truncated archive');
  }
  const buf = await source.read(offset, offset + length - 1);
  if (buf.length !== length) throw new ArchiveError('truncated archive');
  return buf;
}

interface DirectoryLocation {
  entries: number;
  offset: number;
  size: number;
}

/** Locates and parses the central directory. */
export async function readCentralDirectory(
  source: RangeSource,
  limits: { maxCentralDirectoryBytes: number; maxEntries: number },
): Promise<ZipEntry[]> {
  const loc = await locateCentralDirectory(source);
  if (loc.entries > limits.maxEntries) {
    throw new ArchiveError(`more than ${limits.maxEntries} zip entries`);
  }
  if (loc.size > limits.maxCentralDirectoryBytes) {
    throw new ArchiveError(`central directory larger than ${formatBytes(limits.maxCentralDirectoryBytes)}`);
  }
  if (loc.offset + loc.size > source.size) throw new ArchiveError('corrupt central directory');
  const cd = await readExact(source, loc.offset, loc.size);
  return parseCentralDirectory(cd, loc.entries);
}

async function locateCentralDirectory(source: RangeSource): Promise<DirectoryLocation> {
  if (source.size < EOCD_LEN) throw new ArchiveError('not a zip file');
  const tailLen = Math.min(source.size, EOCD_LEN + MAX_COMMENT + ZIP64_LOCATOR_LEN);
  const tailStart = source.size - tailLen;
  const tail = await readExact(source, tailStart, tailLen);
  const at = findEocd(tail);
  if (at === undefined) throw new ArchiveError('not a zip file');

  const disk = tail.readUInt16LE(at + 4);
  const cdDisk = tail.readUInt16LE(at + 6);
  const loc: DirectoryLocation = {
    entries: tail.readUInt16LE(at + 10),
    size: tail.readUInt32LE(at + 12),
    offset: tail.readUInt32LE(at + 16),
  };
  const locatorAt = at - ZIP64_LOCATOR_LEN;
  if (locatorAt >= 0 && tail.readUInt32LE(locatorAt) === ZIP64_LOCATOR_SIG) {
    return readZip64Eocd(source, readUInt64(tail, locatorAt + 8, 'corrupt ZIP64 locator'));
  }
  if (disk !== 0 || cdDisk !== 0) throw new ArchiveError('multi-disk zip files are not supported');
  if (loc.entries === 0xffff || loc.size === 0xffffffff || loc.offset === 0xffffffff) {
    throw new ArchiveError('corrupt ZIP64 end of central directory');
  }
  return loc;
}

/**
 * The EOCD record: preferably the last signature whose comment ends exactly at the end of the file,
 * else (some writers append junk) the last one whose comment fits. Scanning from the end, as
 * Python's zipfile does, so a comment cannot push the real record out of reach.
 */
function findEocd(tail: Buffer): number | undefined {
  let fits: number | undefined;
  for (let at = tail.length - EOCD_LEN; at >= 0; at--) {
    if (tail.readUInt32LE(at) !== EOCD_SIG) continue;
    const end = at + EOCD_LEN + tail.readUInt16LE(at + 20);
    if (end === tail.length) return at;
    if (end < tail.length) fits ??= at;
  }
  return fits;
}

async function readZip64Eocd(source: RangeSource, offset: number): Promise<DirectoryLocation> {
  if (offset + ZIP64_EOCD_LEN > source.size) throw new ArchiveError('corrupt ZIP64 end of central directory');
  const rec = await readExact(source, offset, ZIP64_EOCD_LEN);
  if (rec.readUInt32LE(0) !== ZIP64_EOCD_SIG) throw new ArchiveError('corrupt ZIP64 end of central directory');
  if (rec.readUInt32LE(16) !== 0 || rec.readUInt32LE(20) !== 0) {
    throw new ArchiveError('multi-disk zip files are not supported');
  }
  const why = 'corrupt ZIP64 end of central directory';
  return { entries: readUInt64(rec, 32, why), size: readUInt64(rec, 40, why), offset: readUInt64(rec, 48, why) };
}

function parseCentralDirectory(cd: Buffer, declaredEntries: number): ZipEntry[] {
  const entries: ZipEntry[] = [];
  let pos = 0;
  while (entries.length < declaredEntries) {
    if (pos + CDH_LEN > cd.length || cd.readUInt32LE(pos) !== CDH_SIG) {
      throw new ArchiveError('corrupt central directory');
    }
    const flags = cd.readUInt16LE(pos + 8);
    const nameLen = cd.readUInt16LE(pos + 28);
    const extraLen = cd.readUInt16LE(pos + 30);
    const commentLen = cd.readUInt16LE(pos + 32);
    const end = pos + CDH_LEN + nameLen + extraLen + commentLen;
    if (end > cd.length) throw new ArchiveError('corrupt central directory');
    const nameBytes = cd.subarray(pos + CDH_LEN, pos + CDH_LEN + nameLen);
    const entry: ZipEntry = {
      // Non-UTF-8 names are CP437; latin1 agrees on ASCII, which is all a lookup ever matches.
      name: nameBytes.toString(flags & FLAG_UTF8 ? 'utf8' : 'latin1'),
      flags,
      method: cd.readUInt16LE(pos + 10),
      crc32: cd.readUInt32LE(pos + 16),
      compressedSize: cd.readUInt32LE(pos + 20),
      uncompressedSize: cd.readUInt32LE(pos + 24),
      localHeaderOffset: cd.readUInt32LE(pos + 42),
      isSymlink: cd.readUInt8(pos + 5) === MADE_BY_UNIX && ((cd.readUInt32LE(pos + 38) >>> 16) & S_IFMT) === S_IFLNK,
    };
    applyZip64Extra(entry, cd.subarray(pos + CDH_LEN + nameLen, pos + CDH_LEN + nameLen + extraLen));
    entries.push(entry);
    pos = end;
  }
  return entries;
}

/** Replaces 0xFFFFFFFF placeholders with the ZIP64 extra field's values (APPNOTE §4.5.3). */
function applyZip64Extra(entry: ZipEntry, extra: Buffer): void {
  const needed = (['uncompressedSize', 'compressedSize', 'localHeaderOffset'] as const).filter(
    (k) => entry[k] === 0xffffffff,
  );
  if (needed.length === 0) return;
  for (let pos = 0; pos + 4 <= extra.length; ) {
    const id = extra.readUInt16LE(pos);
    const len = extra.readUInt16LE(pos + 2);
    if (id === 0x0001) {
      const field = extra.subarray(pos + 4, pos + 4 + len);
      needed.forEach((key, i) => {
        entry[key] = readUInt64(field, i * 8, 'corrupt ZIP64 extra field');
      });
      return;
    }
    pos += 4 + len;
  }
  throw new ArchiveError('corrupt ZIP64 extra field');
}

/** A little-endian u64 that must fit in a JS safe integer (no real archive exceeds 2^53 bytes). */
function readUInt64(buf: Buffer, at: number, why: string): number {
  if (at + 8 > buf.length) throw new ArchiveError(why);
  const value = buf.readBigUInt64LE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ArchiveError(why);
  return Number(value);
}
