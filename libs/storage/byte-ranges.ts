import { Readable } from 'node:stream';
import type { BlobRead, ByteRange } from './blob-store.js';
import { BlobNotFoundError, RangeNotSatisfiableError } from './errors.js';

/**
 * The part of `range` that an object of `size` bytes can serve: the end is clamped to the last byte
 * (as HTTP does); a range that starts past the end, is reversed or is not made of non-negative
 * integers is not satisfiable.
 */
export function satisfiableRange(range: ByteRange, size: number): ByteRange {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || start >= size) {
    throw new RangeNotSatisfiableError(size);
  }
  return { start, end: Math.min(end, size - 1) };
}

/** Collects a ranged read into memory, insisting on exactly `range` (no clamping). */
export async function collectExactRange(key: string, read: BlobRead | null, range: ByteRange): Promise<Buffer> {
  if (read === null) throw new BlobNotFoundError(key);
  if (range.end > read.size - 1) {
    read.body.destroy();
    throw new RangeNotSatisfiableError(read.size);
  }
  const bytes = await collect(read.body);
  const expected = range.end - range.start + 1;
  if (bytes.length !== expected) {
    throw new Error(`short read of ${JSON.stringify(key)}: expected ${expected} bytes, got ${bytes.length}`);
  }
  return bytes;
}

async function collect(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The first `length` bytes of `body`; the rest is never read (`body` is destroyed once enough arrived). */
export function firstBytes(body: Readable, length: number): Readable {
  return Readable.from(takeBytes(body, length), { objectMode: false });
}

async function* takeBytes(body: Readable, length: number): AsyncGenerator<Buffer> {
  let remaining = length;
  try {
    for await (const chunk of body) {
      const part = (chunk as Buffer).subarray(0, remaining);
      remaining -= part.length;
      if (part.length > 0) yield part;
      if (remaining === 0) return;
    }
  } finally {
    body.destroy();
  }
}
