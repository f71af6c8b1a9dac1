/**
 * The zip's end records (APPNOTE.TXT §4.3.14–16), located and checked before `unzipper` acts on
 * them. `unzipper` finds the end record by scanning forward from a fixed tail window (80 bytes by
 * default) for the first signature, and then trusts its counts: it allocates and parses every
 * declared entry and streams the central directory to the end of the file. So the end record is
 * found here, scanning back from the end as Python's zipfile does, and its declarations are
 * bounded; `unzipper` is then pointed exactly at it (its `tailSize` option).
 */
import { ArchiveError } from './errors.js';
import { formatBytes } from './limits.js';
import type { RangeSource } from './range-source.js';

/** Where the central directory is, as the end records declare it. */
export interface ZipEndRecord {
  /** Offset of the end-of-central-directory record. */
  eocdOffset: number;
  entries: number;
  directoryOffset: number;
  directorySize: number;
}

/** An end record's bytes at its offset, kept so that `unzipper` can be served them again without a read. */
export interface ReadRegion {
  offset: number;
  bytes: Buffer;
}

const EOCD_SIG = 0x06054b50;
const EOCD_LEN = 22;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_LOCATOR_LEN = 20;
const ZIP64_EOCD_SIG = 0x06064b50;
const ZIP64_EOCD_LEN = 56;
const MAX_COMMENT = 0xffff;
const DIRECTORY_RECORD_LEN = 46;
/** The longest tail that can hold the end record: comment, ZIP64 locator and ZIP64 record included. */
const MAX_TAIL = EOCD_LEN + MAX_COMMENT + ZIP64_LOCATOR_LEN + ZIP64_EOCD_LEN;

/** Reads exactly `length` bytes at `offset`, or fails as a truncated archive. */
export async function readExact(source: RangeSource, offset: number, length: number): Promise<Buffer> {
  if (length === 0) return Buffer.alloc(0);
  if (offset < 0 || length < 0 || offset + length > source.size) throw new ArchiveError('truncated archive');
  const buf = await source.read(offset, offset + length - 1);
  if (buf.length !== length) throw new ArchiveError('truncated archive');
  return buf;
}

/**
 * Reads the tail (one read; a second only for a ZIP64 record beyond it), locates the end records
 * and checks the declared directory against `limits` and the file size.
 * @returns the end record, and each end record's bytes (EOCD with its comment; ZIP64 locator and
 *   record when used) at the offsets `unzipper` asks for them
 */
export async function readZipEndRecord(
  source: RangeSource,
  limits: { maxCentralDirectoryBytes: number; maxEntries: number },
): Promise<{ end: ZipEndRecord; regions: ReadRegion[] }> {
  if (source.size < EOCD_LEN) throw new ArchiveError('not a zip file');
  const tailLen = Math.min(source.size, MAX_TAIL);
  const tail: ReadRegion = { offset: source.size - tailLen, bytes: await readExact(source, source.size - tailLen, tailLen) };
  const at = findEocd(tail.bytes);
  if (at === undefined) throw new ArchiveError('not a zip file');
  const regions = [{ offset: tail.offset + at, bytes: tail.bytes.subarray(at) }];
  const end = await parseEndRecords(source, tail, at, regions);
  if (end.entries > limits.maxEntries) throw new ArchiveError(`more than ${limits.maxEntries} zip entries`);
  if (end.directorySize > limits.maxCentralDirectoryBytes) {
    throw new ArchiveError(`central directory larger than ${formatBytes(limits.maxCentralDirectoryBytes)}`);
  }
  if (end.directoryOffset + end.directorySize > end.eocdOffset || end.directorySize < end.entries * DIRECTORY_RECORD_LEN) {
    throw new ArchiveError('corrupt central directory');
  }
  return { end, regions };
}

/**
 * The EOCD record: preferably the last signature whose comment ends exactly at the end of the file,
 * else (some writers append junk) the last one whose comment fits. Scanning from the end, so a
 * comment or stored data cannot push the real record out of reach or pose as it.
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

/**
 * The directory's location, by the rule `unzipper` applies (the ZIP64 records are used when the
 * EOCD holds their 0xFFFF / 0xFFFFFFFF placeholders), so the bounds checked here are the values it
 * will act on.
 */
async function parseEndRecords(source: RangeSource, tail: ReadRegion, at: number, regions: ReadRegion[]): Promise<ZipEndRecord> {
  const eocd = tail.bytes;
  const eocdOffset = tail.offset + at;
  const disk = eocd.readUInt16LE(at + 4);
  const directoryDisk = eocd.readUInt16LE(at + 6);
  const entries = eocd.readUInt16LE(at + 10);
  const directorySize = eocd.readUInt32LE(at + 12);
  const directoryOffset = eocd.readUInt32LE(at + 16);
  if (disk !== 0xffff && entries !== 0xffff && directoryOffset !== 0xffffffff) {
    if (disk !== 0 || directoryDisk !== 0) throw new ArchiveError('multi-disk zip files are not supported');
    return { eocdOffset, entries, directoryOffset, directorySize };
  }
  const why = 'corrupt ZIP64 end of central directory';
  const locatorAt = at - ZIP64_LOCATOR_LEN;
  if (locatorAt < 0 || eocd.readUInt32LE(locatorAt) !== ZIP64_LOCATOR_SIG) throw new ArchiveError(why);
  regions.push({ offset: eocdOffset - ZIP64_LOCATOR_LEN, bytes: eocd.subarray(locatorAt, at) });
  const recordOffset = readUInt64(eocd, locatorAt + 8, why);
  if (recordOffset + ZIP64_EOCD_LEN > eocdOffset - ZIP64_LOCATOR_LEN) throw new ArchiveError(why);
  const record = await zip64Record(source, tail, recordOffset, regions);
  if (record.readUInt32LE(0) !== ZIP64_EOCD_SIG) throw new ArchiveError(why);
  if (record.readUInt32LE(16) !== 0 || record.readUInt32LE(20) !== 0) throw new ArchiveError('multi-disk zip files are not supported');
  return {
    eocdOffset,
    entries: readUInt64(record, 32, why),
    directorySize: readUInt64(record, 40, why),
    directoryOffset: readUInt64(record, 48, why),
  };
}

/** The ZIP64 EOCD record: from the tail when it is there (no comment), else one more read. */
async function zip64Record(source: RangeSource, tail: ReadRegion, offset: number, regions: ReadRegion[]): Promise<Buffer> {
  const bytes = offset >= tail.offset ? tail.bytes.subarray(offset - tail.offset, offset - tail.offset + ZIP64_EOCD_LEN) : await readExact(source, offset, ZIP64_EOCD_LEN);
  regions.push({ offset, bytes });
  return bytes;
}

/** A little-endian u64 that must fit in a JS safe integer (no real archive exceeds 2^53 bytes). */
function readUInt64(buf: Buffer, at: number, why: string): number {
  if (at < 0 || at + 8 > buf.length) throw new ArchiveError(why);
  const value = buf.readBigUInt64LE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ArchiveError(why);
  return Number(value);
}
