import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerBlobStoreContract, type BlobStoreHarness } from './blob-store.contract.js';
import { InvalidBlobKeyError, StorageUnavailableError } from './errors.js';
import { FsBlobStore } from './fs-blob-store.js';

describe('FsBlobStore', () => {
  let dir: string;
  let store: FsBlobStore;

  async function tempFiles(): Promise<number> {
    try {
      return (await readdir(path.join(store.root, '.tmp'))).length;
    } catch {
      return 0;
    }
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'orchard-fs-store-'));
    store = new FsBlobStore({ root: path.join(dir, 'data') });
  });

  afterAll(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const harness = (): BlobStoreHarness => ({ store, pendingWrites: tempFiles, partSizeBytes: 8 * 1024 * 1024 });
  registerBlobStoreContract(harness);

  it('removes temporary files left by writes that stopped before the cutoff, and only those', async () => {
    const tmp = path.join(store.root, '.tmp');
    await mkdir(tmp, { recursive: true });
    await writeFile(path.join(tmp, 'killed-write'), Buffer.alloc(1000));
    const hourAgo = new Date(Date.now() - 3_600_000);
    await utimes(path.join(tmp, 'killed-write'), hourAgo, hourAgo);
    await writeFile(path.join(tmp, 'write-in-progress'), Buffer.alloc(10));
    const cleanup = await store.removeOrphans(new Date(Date.now() - 60_000));
    expect(cleanup).toEqual({ removed: 1, bytes: 1000 });
    expect(await readdir(tmp)).toEqual(['write-in-progress']);
    await rm(path.join(tmp, 'write-in-progress'));
  });

  it('writes a range to a writable through writeTo and closes the file afterwards', async () => {
    const bytes = randomBytes(700 * 1024);
    await store.put('blobs/wr/write-to', Readable.from([bytes]));
    const openFiles = async () => (await readdir('/proc/self/fd')).length;
    const before = await openFiles();
    const read = await store.get('blobs/wr/write-to', { range: { start: 5, end: 600 * 1024 } });
    const chunks: Buffer[] = [];
    const out = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(Buffer.from(chunk));
        callback();
      },
    });
    await read!.writeTo!(out);
    expect(Buffer.concat(chunks).equals(bytes.subarray(5, 600 * 1024 + 1))).toBe(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(await openFiles()).toBe(before);
  });

  it('writes the object at <root>/<key>', async () => {
    await store.put('metadata/sha256/ab/cd/x.metadata', Readable.from([Buffer.from('Metadata-Version: 2.1\n')]));
    expect(existsSync(path.join(store.root, 'metadata/sha256/ab/cd/x.metadata'))).toBe(true);
    expect(await tempFiles()).toBe(0);
  });

  it('never touches paths outside the root', async () => {
    const outside = path.join(dir, 'outside');
    const attempts = ['../outside', 'blobs/../../outside', `/${outside}`, outside];
    for (const key of attempts) {
      await expect(store.put(key, Readable.from([Buffer.from('x')]))).rejects.toBeInstanceOf(InvalidBlobKeyError);
    }
    expect(existsSync(outside)).toBe(false);
  });

  it('answers null for a key naming a directory', async () => {
    await store.put('blobs/dir/file', Readable.from([Buffer.from('x')]));
    expect(await store.get('blobs/dir')).toBeNull();
    expect(await store.stat('blobs/dir')).toBeNull();
  });

  it('turns disk errors into StorageUnavailableError', async () => {
    const file = path.join(dir, 'not-a-directory');
    await writeFile(file, 'x');
    const broken = new FsBlobStore({ root: path.join(file, 'data') });
    await expect(broken.check()).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(broken.put('blobs/a', Readable.from([Buffer.from('x')]))).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(await broken.get('blobs/a')).toBeNull();
  });

  it('passes errors of the body through unchanged and leaves no temp file', async () => {
    const failure = Object.assign(new Error('upstream reset'), { code: 'ECONNRESET' });
    const body = new Readable({
      read() {
        this.push(randomBytes(1024));
        this.destroy(failure);
      },
    });
    await expect(store.put('blobs/broken-body', body)).rejects.toBe(failure);
    expect(await store.stat('blobs/broken-body')).toBeNull();
    expect(await tempFiles()).toBe(0);
  });
});
