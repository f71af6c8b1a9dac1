import type { FileHandle } from 'node:fs/promises';
import { finished, type Writable } from 'node:stream';
import type { ByteRange } from './blob-store.js';
import type { BufferPool } from './buffer-pool.js';

/**
 * Writes bytes `range.start..range.end` of an open file to `out`, then ends `out` and waits until it
 * finished. Two buffers from `pool` take turns: one is read into while the other is in the socket,
 * and a buffer is read into again only after its write's callback (its bytes left for the kernel).
 * On failure (`out` failed or closed early, `signal` aborted, the file shorter than the range) `out`
 * is destroyed, as a pipeline would, and the promise rejects; the buffers are then not returned to
 * the pool, as a write may still hold them.
 */
export async function writeFileRange(handle: FileHandle, out: Writable, range: ByteRange, pool: BufferPool, signal?: AbortSignal): Promise<void> {
  // Resolves with an error when `out` fails or closes before its end; it also listens for `out`'s errors.
  const outcome = new Promise<Error | null>((resolve) => finished(out, (error) => resolve(error ?? null)));
  const buffers = [pool.take(), pool.take()];
  const writes: Array<Promise<Error | null>> = [Promise.resolve(null), Promise.resolve(null)];
  try {
    let position = range.start;
    for (let turn = 0; position <= range.end; turn ^= 1) {
      await succeeded(Promise.race([writes[turn]!, outcome]));
      signal?.throwIfAborted();
      const buffer = buffers[turn]!;
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, range.end - position + 1), position);
      if (bytesRead === 0) throw new Error(`the file ended at byte ${position}, before the end of the range (${range.end})`);
      position += bytesRead;
      writes[turn] = written(out, bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead));
    }
    for (const write of writes) await succeeded(Promise.race([write, outcome]));
    out.end();
    await succeeded(outcome);
  } catch (error) {
    out.destroy();
    throw error;
  }
  for (const buffer of buffers) pool.give(buffer);
}

/** The write's outcome once its callback ran: never rejects, so a failed write is read where it is awaited. */
function written(out: Writable, chunk: Buffer): Promise<Error | null> {
  return new Promise((resolve) => out.write(chunk, (error) => resolve(error ?? null)));
}

async function succeeded(outcome: Promise<Error | null>): Promise<void> {
  const error = await outcome;
  if (error) throw error;
}
