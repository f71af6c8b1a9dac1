import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setImmediate as nextTick } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, it } from 'vitest';
import type { BlobStore } from './blob-store.js';
import { BlobNotFoundError, HashMismatchError, InvalidBlobKeyError, RangeNotSatisfiableError, SizeLimitError } from './errors.js';
import { blobKey } from './keys.js';
import { sha256Digest } from './verifying-stream.js';

/** What the shared suite needs from a store under test. */
export interface BlobStoreHarness {
  store: BlobStore;
  /** Half-finished writes left behind: temp files (fs), open multipart uploads (S3). */
  pendingWrites(): Promise<number>;
  /** A body larger than this exercises multipart uploads. */
  partSizeBytes: number;
}

const MIB = 1024 * 1024;
const CHUNK = 64 * 1024;

/** `size` deterministic bytes for `seed`, generated chunk by chunk (never held whole in memory). */
export function generatedStream(size: number, seed: string, onProgress?: (sent: number) => void): Readable {
  return Readable.from(generatedChunks(size, seed, onProgress));
}

async function* generatedChunks(size: number, seed: string, onProgress?: (sent: number) => void): AsyncGenerator<Buffer> {
  const block = createHash('sha512').update(seed).digest();
  let sent = 0;
  for (let index = 0; sent < size; index++) {
    const chunk = Buffer.alloc(Math.min(CHUNK, size - sent), block);
    chunk.writeUInt32BE(index % 2 ** 32, 0);
    sent += chunk.length;
    yield chunk;
    onProgress?.(sent);
    // Let aborts and backpressure interleave as they would with a network source.
    if (index % 16 === 0) await nextTick();
  }
}

/**
 * Bytes held by live Buffers/ArrayBuffers right now: garbage is collected first, since V8 lets up to
 * ~64 MiB of dead external memory pile up before it collects on its own.
 */
function liveArrayBufferBytes(): () => number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  return () => {
    gc();
    return process.memoryUsage().arrayBuffers;
  };
}

/** The sha256 of {@link generatedStream}(size, seed). */
export async function generatedSha256(size: number, seed: string): Promise<string> {
  return sha256Of(generatedStream(size, seed));
}

/** The sha256 (hex) of everything a stream yields. */
export async function sha256Of(body: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of body) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function randomKey(): string {
  return blobKey(randomBytes(32).toString('hex'));
}

/** A key holding `bytes`, and the bytes. */
async function stored(store: BlobStore, size: number): Promise<{ key: string; bytes: Buffer }> {
  const bytes = randomBytes(size);
  const key = blobKey(sha256(bytes));
  await store.put(key, Readable.from([bytes]), { expected: sha256Digest(sha256(bytes)) });
  return { key, bytes };
}

/**
 * Registers the behaviour every {@link BlobStore} shares. Call inside a `describe` whose hooks make
 * `harness()` available before the tests run.
 */
export function registerBlobStoreContract(harness: () => BlobStoreHarness): void {
  it('round-trips bytes and reports their sha256 and size', async () => {
    const { store } = harness();
    const bytes = randomBytes(100_000);
    const key = blobKey(sha256(bytes));
    const result = await store.put(key, Readable.from([bytes]), {
      expected: sha256Digest(sha256(bytes).toUpperCase()),
      contentType: 'application/octet-stream',
    });
    expect(result).toEqual({ key, hex: sha256(bytes), size: bytes.length });
    const read = await store.get(key);
    expect(read?.size).toBe(bytes.length);
    expect(read?.range).toBeUndefined();
    expect((await readAll(read!.body)).equals(bytes)).toBe(true);
    expect(await store.stat(key)).toEqual({ size: bytes.length });
  });

  it('stores an empty body and computes the digest when none is expected', async () => {
    const { store } = harness();
    const key = randomKey();
    const result = await store.put(key, Readable.from([]));
    expect(result).toEqual({ key, hex: sha256(Buffer.alloc(0)), size: 0 });
    const read = await store.get(key);
    expect(read?.size).toBe(0);
    expect((await readAll(read!.body)).length).toBe(0);
  });

  it('answers null for a missing key', async () => {
    const { store } = harness();
    expect(await store.get(randomKey())).toBeNull();
    expect(await store.stat(randomKey())).toBeNull();
  });

  it('stores nothing when the bytes do not match the expected sha256', async () => {
    const h = harness();
    const key = randomKey();
    const expected = 'f'.repeat(64);
    const put = h.store.put(key, Readable.from([randomBytes(10_000)]), { expected: sha256Digest(expected) });
    await expect(put).rejects.toBeInstanceOf(HashMismatchError);
    await expect(put).rejects.toMatchObject({ expected, code: 'HASH_MISMATCH' });
    expect(await h.store.stat(key)).toBeNull();
    expect(await h.pendingWrites()).toBe(0);
  });

  it('stores nothing when a multi-part body does not match', async () => {
    const h = harness();
    const key = randomKey();
    const size = 2 * h.partSizeBytes + MIB;
    const put = h.store.put(key, generatedStream(size, 'mismatch'), { expected: sha256Digest('a'.repeat(64)) });
    await expect(put).rejects.toBeInstanceOf(HashMismatchError);
    expect(await h.store.stat(key)).toBeNull();
    expect(await h.pendingWrites()).toBe(0);
  });

  it('stores nothing when the body exceeds maxBytes', async () => {
    const h = harness();
    const key = randomKey();
    const small = h.store.put(key, generatedStream(3 * MIB, 'small'), { maxBytes: MIB });
    await expect(small).rejects.toBeInstanceOf(SizeLimitError);
    const size = 2 * h.partSizeBytes + MIB;
    const large = h.store.put(key, generatedStream(size, 'large'), { maxBytes: h.partSizeBytes + MIB });
    await expect(large).rejects.toBeInstanceOf(SizeLimitError);
    expect(await h.store.stat(key)).toBeNull();
    expect(await h.pendingWrites()).toBe(0);
  });

  it('stores nothing when the put is aborted mid-stream', async () => {
    const h = harness();
    const key = randomKey();
    const controller = new AbortController();
    const size = 2 * h.partSizeBytes + MIB;
    const body = generatedStream(size, 'abort', (sent) => {
      if (sent >= h.partSizeBytes + MIB) controller.abort();
    });
    const put = h.store.put(key, body, { signal: controller.signal });
    await expect(put).rejects.toMatchObject({ name: 'AbortError' });
    expect(body.destroyed).toBe(true);
    expect(await h.store.stat(key)).toBeNull();
    expect(await h.pendingWrites()).toBe(0);
  });

  it('rejects a put whose signal is already aborted', async () => {
    const h = harness();
    const key = randomKey();
    const put = h.store.put(key, Readable.from([Buffer.from('x')]), { signal: AbortSignal.abort() });
    await expect(put).rejects.toMatchObject({ name: 'AbortError' });
    expect(await h.store.stat(key)).toBeNull();
  });

  it('keeps the existing object when the same key is put again, still verifying the body', async () => {
    const { store } = harness();
    const { key, bytes } = await stored(store, 5_000);
    const again = await store.put(key, Readable.from([bytes]), { expected: sha256Digest(sha256(bytes)) });
    expect(again).toEqual({ key, hex: sha256(bytes), size: bytes.length });
    const bad = store.put(key, Readable.from([randomBytes(10)]), { expected: sha256Digest(sha256(bytes)) });
    await expect(bad).rejects.toBeInstanceOf(HashMismatchError);
    expect((await readAll((await store.get(key))!.body)).equals(bytes)).toBe(true);
  });

  it('serves exactly the requested byte ranges', async () => {
    const { store } = harness();
    const { key, bytes } = await stored(store, 300 * 1024);
    const size = bytes.length;
    const cases = [
      { start: 0, end: 0 },
      { start: size - 64 * 1024, end: size - 1 },
      { start: 1_000, end: 200_000 },
      { start: size - 1, end: size - 1 },
    ];
    for (const range of cases) {
      const read = await store.get(key, { range });
      expect(read?.size).toBe(size);
      expect(read?.range).toEqual(range);
      expect((await readAll(read!.body)).equals(bytes.subarray(range.start, range.end + 1))).toBe(true);
    }
    const clamped = await store.get(key, { range: { start: size - 10, end: size + 1_000 } });
    expect(clamped?.range).toEqual({ start: size - 10, end: size - 1 });
    expect((await readAll(clamped!.body)).equals(bytes.subarray(size - 10))).toBe(true);
    await expect(store.get(key, { range: { start: size, end: size + 5 } })).rejects.toBeInstanceOf(RangeNotSatisfiableError);
    await expect(store.get(key, { range: { start: 10, end: 5 } })).rejects.toMatchObject({ size });
  });

  it('reads exact ranges into memory', async () => {
    const { store } = harness();
    const { key, bytes } = await stored(store, 70_000);
    expect((await store.readRange(key, { start: 0, end: 3 })).equals(bytes.subarray(0, 4))).toBe(true);
    expect((await store.readRange(key, { start: 69_000, end: 69_999 })).equals(bytes.subarray(69_000))).toBe(true);
    await expect(store.readRange(key, { start: 69_000, end: 70_000 })).rejects.toBeInstanceOf(RangeNotSatisfiableError);
    await expect(store.readRange(randomKey(), { start: 0, end: 1 })).rejects.toBeInstanceOf(BlobNotFoundError);
  });

  it('deletes idempotently', async () => {
    const { store } = harness();
    const { key } = await stored(store, 1_000);
    await store.delete(key);
    expect(await store.stat(key)).toBeNull();
    expect(await store.get(key)).toBeNull();
    await store.delete(key);
  });

  it('rejects keys that are not plain relative paths', async () => {
    const { store } = harness();
    const bad = ['', '../escape', 'blobs/../../escape', '/etc/passwd', 'a//b', 'a/./b', 'a\0b', 'a b', 'a\\b', 'blobs/', '.tmp/x'];
    for (const key of bad) {
      await expect(store.put(key, Readable.from([Buffer.from('x')])), key).rejects.toBeInstanceOf(InvalidBlobKeyError);
      await expect(store.get(key), key).rejects.toBeInstanceOf(InvalidBlobKeyError);
      await expect(store.stat(key), key).rejects.toBeInstanceOf(InvalidBlobKeyError);
      await expect(store.delete(key), key).rejects.toBeInstanceOf(InvalidBlobKeyError);
    }
  });

  it('passes its readiness check', async () => {
    await harness().store.check();
  });

  it('round-trips a multi-part body without buffering it whole', async () => {
    const h = harness();
    const size = 64 * MIB;
    const expected = await generatedSha256(size, 'large');
    const key = blobKey(expected);
    const liveBuffers = liveArrayBufferBytes();
    const baseline = liveBuffers();
    let peak = baseline;
    // Sampled as the body is produced (every 4 MiB: a full GC each time, so not on a timer, which
    // on a slow machine made the upload itself crawl): a store holding the body would show it here.
    let nextSample = 0;
    const sample = (sent: number) => {
      if (sent < nextSample) return;
      nextSample += 4 * MIB;
      peak = Math.max(peak, liveBuffers());
    };
    const result = await h.store.put(key, generatedStream(size, 'large', sample), { expected: sha256Digest(expected) });
    expect(result).toEqual({ key, hex: expected, size });
    // A put should hold about (queueSize + 1) parts (fs: a few stream buffers), far less than the body.
    expect(peak - baseline).toBeLessThan(size / 2);
    const read = await h.store.get(key);
    expect(read?.size).toBe(size);
    expect(await sha256Of(read!.body)).toBe(expected);
    expect(await h.pendingWrites()).toBe(0);
  });
}
