import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BufferPool } from './buffer-pool.js';
import { writeFileRange } from './write-file-range.js';

const CHUNK = 64 * 1024;
/** Five and a half chunks: every buffer is reused at least twice, and the last read is short. */
const content = randomBytes(CHUNK * 5 + CHUNK / 2);

/**
 * A socket-like sink that acknowledges each write a little later and copies the chunk only then, as
 * the kernel takes the bytes of a pending write when it can: a buffer reused before its write's
 * callback would show up as wrong bytes.
 */
function lateReader(options: { failAfterWrites?: number } = {}) {
  const received: Buffer[] = [];
  let writes = 0;
  const out = new Writable({
    highWaterMark: CHUNK,
    write(chunk: Buffer, _encoding, callback) {
      writes++;
      setTimeout(() => {
        if (options.failAfterWrites !== undefined && writes > options.failAfterWrites) return callback(new Error('connection reset by peer'));
        received.push(Buffer.from(chunk));
        callback();
      }, 2);
    },
  });
  return { out, received: () => Buffer.concat(received) };
}

describe('writeFileRange', () => {
  let dir: string;
  let file: string;
  let handle: FileHandle;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'orchard-write-range-'));
    file = path.join(dir, 'wheel.whl');
    await writeFile(file, content);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  beforeEach(async () => {
    handle = await open(file, 'r');
  });
  afterEach(() => handle.close());

  it('writes the whole file through two reused buffers, each read into again only after its write was taken', async () => {
    const pool = new BufferPool(CHUNK, 4);
    const sink = lateReader();
    await writeFileRange(handle, sink.out, { start: 0, end: content.length - 1 }, pool);
    expect(sink.received().equals(content)).toBe(true);
    expect(sink.out.writableFinished).toBe(true);
    expect(pool.idle).toBe(2);
  });

  it('writes exactly the bytes of a range, reusing the pooled buffers of an earlier download', async () => {
    const pool = new BufferPool(CHUNK, 4);
    const first = pool.take();
    const second = pool.take();
    pool.give(first);
    pool.give(second);
    const taken: Buffer[] = [];
    const take = pool.take.bind(pool);
    pool.take = () => {
      const buffer = take();
      taken.push(buffer);
      return buffer;
    };
    const sink = lateReader();
    await writeFileRange(handle, sink.out, { start: 1000, end: CHUNK * 3 + 17 }, pool);
    expect(sink.received().equals(content.subarray(1000, CHUNK * 3 + 18))).toBe(true);
    expect(new Set(taken)).toEqual(new Set([first, second]));
  });

  it('ends an empty range at once', async () => {
    const sink = lateReader();
    await writeFileRange(handle, sink.out, { start: 0, end: -1 }, new BufferPool(CHUNK, 4));
    expect(sink.received().length).toBe(0);
    expect(sink.out.writableFinished).toBe(true);
  });

  it('fails with the write error when the client goes away, keeping the buffers out of the pool', async () => {
    const pool = new BufferPool(CHUNK, 4);
    const sink = lateReader({ failAfterWrites: 2 });
    await expect(writeFileRange(handle, sink.out, { start: 0, end: content.length - 1 }, pool)).rejects.toThrow('connection reset by peer');
    expect(pool.idle).toBe(0);
  });

  it('fails, instead of waiting for ever, when a client that stopped reading goes away', async () => {
    const stalled = new Writable({ highWaterMark: CHUNK, write: () => undefined });
    const writing = writeFileRange(handle, stalled, { start: 0, end: content.length - 1 }, new BufferPool(CHUNK, 4));
    setTimeout(() => stalled.destroy(), 20);
    await expect(writing).rejects.toThrow('Premature close');
  });

  it('fails clearly when the file is shorter than the range', async () => {
    const sink = lateReader();
    await expect(writeFileRange(handle, sink.out, { start: 0, end: content.length + 99 }, new BufferPool(CHUNK, 4))).rejects.toThrow(
      `the file ended at byte ${content.length}, before the end of the range (${content.length + 99})`,
    );
  });

  it('stops when its signal is aborted', async () => {
    const controller = new AbortController();
    const sink = lateReader();
    const write = sink.out.write.bind(sink.out);
    sink.out.write = ((chunk: Buffer, callback: (error?: Error | null) => void) => {
      controller.abort();
      return write(chunk, callback);
    }) as typeof sink.out.write;
    await expect(writeFileRange(handle, sink.out, { start: 0, end: content.length - 1 }, new BufferPool(CHUNK, 4), controller.signal)).rejects.toThrow(/aborted/);
    expect(sink.received().length).toBeLessThan(content.length);
  });
});

describe('BufferPool', () => {
  it('keeps at most its bound of idle buffers and hands out fresh ones when empty', () => {
    const pool = new BufferPool(1024, 1);
    const a = pool.take();
    const b = pool.take();
    expect(a).not.toBe(b);
    expect(a.length).toBe(1024);
    pool.give(a);
    pool.give(b);
    expect(pool.idle).toBe(1);
    expect(pool.take()).toBe(a);
  });
});
