/**
 * Random access to a blob of known size (a stored file, an S3 object via Range requests, a buffer).
 * The zip reader asks only for the few ranges it needs, so a large wheel costs kilobytes of reads.
 */
export interface RangeSource {
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Bytes `start..endInclusive`; callers stay within `0..size-1`. A source returning fewer bytes
   * than asked is treated as a truncated archive.
   */
  read(start: number, endInclusive: number): Promise<Buffer>;
}

/** A {@link RangeSource} that counts what was read through it. */
export interface CountingRangeSource extends RangeSource {
  /** Bytes returned so far. */
  readonly bytesRead: number;
  /** `read` calls so far. */
  readonly requests: number;
}

/** Wraps `src`, counting bytes read and requests made (for tests and metrics). */
export function countingRangeSource(src: RangeSource): CountingRangeSource {
  let bytesRead = 0;
  let requests = 0;
  return {
    get size() {
      return src.size;
    },
    get bytesRead() {
      return bytesRead;
    },
    get requests() {
      return requests;
    },
    async read(start, endInclusive) {
      requests += 1;
      const buf = await src.read(start, endInclusive);
      bytesRead += buf.length;
      return buf;
    },
  };
}

/** A {@link RangeSource} over an in-memory buffer. */
export function bufferRangeSource(buf: Buffer): RangeSource {
  return {
    size: buf.length,
    read: async (start, endInclusive) => buf.subarray(start, endInclusive + 1),
  };
}
