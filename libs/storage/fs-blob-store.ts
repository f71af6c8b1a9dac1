import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errorReason, type Logger } from '../log/index.js';
import { BufferPool } from './buffer-pool.js';
import type { BlobRead, BlobStore, ByteRange, GetOptions, OrphanCleanup, PutOptions, PutResult } from './blob-store.js';
import { collectExactRange, satisfiableRange } from './byte-ranges.js';
import { InvalidBlobKeyError, StorageUnavailableError } from './errors.js';
import { FsBlobRead } from './fs-blob-read.js';
import { isMissingFileError, toFsStorageError } from './fs-errors.js';
import { assertValidKey } from './key-validation.js';
import { discard, signalOption } from './stream-helpers.js';
import { VerifyingStream } from './verifying-stream.js';

/** Where half-written files live; a key can never name it (no key segment may start with "."). */
const TMP_DIR = '.tmp';
/**
 * Read buffer per open stream: 512 KiB. Large reads cut syscalls and stream callbacks (64 KiB
 * bounded cached-file throughput); 1 MiB was no faster but cost ~12 MiB more gateway RSS with 10
 * clients streaming 1 GB files (each stream holds a chunk in its buffer and one in the socket queue).
 */
const READ_CHUNK = 512 * 1024;
/** Idle read buffers a store keeps for {@link BlobRead.writeTo}: 8 MiB, eight downloads' worth. */
const IDLE_READ_BUFFERS = 16;

export interface FsBlobStoreOptions {
  /** Directory holding the objects; created on first write. */
  root: string;
  /** Where cleanup failures (a leftover temporary file, a handle not closed) are logged. */
  logger?: Logger;
}

/**
 * A {@link BlobStore} on a local directory: `<root>/<key>`. Writes go to `<root>/.tmp/<random>`
 * (same filesystem), are fsynced and then renamed into place, so a key only ever names a complete,
 * verified file.
 */
export class FsBlobStore implements BlobStore {
  readonly kind = 'fs' as const;
  readonly #root: string;
  readonly #tmpDir: string;
  readonly #logger: Logger | undefined;
  readonly #readBuffers = new BufferPool(READ_CHUNK, IDLE_READ_BUFFERS);

  constructor(options: FsBlobStoreOptions) {
    this.#root = path.resolve(options.root);
    this.#tmpDir = path.join(this.#root, TMP_DIR);
    this.#logger = options.logger;
  }

  /** The absolute directory this store writes under. */
  get root(): string {
    return this.#root;
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    try {
      const target = this.#pathOf(key);
      const verifier = new VerifyingStream(options);
      options.signal?.throwIfAborted();
      // Content-addressed keys: an existing object already holds these bytes, so only verify them.
      if (await this.#isFile(target)) {
        await pipeline(body, verifier, discard(), signalOption(options.signal));
        return { key, ...verifier.verified() };
      }
      await this.#writeAtomically(target, body, verifier, options.signal);
      return { key, ...verifier.verified() };
    } catch (error) {
      body.destroy();
      throw toFsStorageError(error, 'write');
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<BlobRead | null> {
    const file = this.#pathOf(key);
    options.signal?.throwIfAborted();
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      if (isMissingFileError(error)) return null;
      throw toFsStorageError(error, 'read');
    }
    try {
      const info = await handle.stat();
      if (!info.isFile()) {
        await handle.close();
        return null;
      }
      const range = options.range && satisfiableRange(options.range, info.size);
      // A small file gets a buffer of its own size, not READ_CHUNK (most wheels and every metadata file).
      const length = range ? range.end - range.start + 1 : info.size;
      const highWaterMark = options.highWaterMark ?? Math.max(16 * 1024, Math.min(READ_CHUNK, length));
      return new FsBlobRead(handle, info.size, range, { highWaterMark, buffers: this.#readBuffers, signal: options.signal });
    } catch (error) {
      await handle.close().catch((err: unknown) => this.#logger?.debug({ key, err: errorReason(err) }, 'file handle not closed after a failed read'));
      throw toFsStorageError(error, 'read');
    }
  }

  async readRange(key: string, range: ByteRange, signal?: AbortSignal): Promise<Buffer> {
    return collectExactRange(key, await this.get(key, signal ? { range, signal } : { range }), range);
  }

  async stat(key: string): Promise<{ size: number } | null> {
    const file = this.#pathOf(key);
    try {
      const info = await stat(file);
      return info.isFile() ? { size: info.size } : null;
    } catch (error) {
      if (isMissingFileError(error)) return null;
      throw toFsStorageError(error, 'stat');
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.#pathOf(key);
    try {
      await unlink(file);
    } catch (error) {
      if (isMissingFileError(error)) return;
      throw toFsStorageError(error, 'delete');
    }
  }

  /** Temporary files of writes a killed process never finished (last modified before `startedBefore`). */
  async removeOrphans(startedBefore: Date): Promise<OrphanCleanup> {
    let names: string[];
    try {
      names = await readdir(this.#tmpDir);
    } catch (error) {
      if (isMissingFileError(error)) return { removed: 0, bytes: 0 };
      throw toFsStorageError(error, 'list temporary files');
    }
    const cleanup = { removed: 0, bytes: 0 };
    for (const name of names) {
      const file = path.join(this.#tmpDir, name);
      try {
        const info = await stat(file);
        // A write in progress keeps appending (mtime moves); only files idle since before the cutoff go.
        if (!info.isFile() || info.mtimeMs >= startedBefore.getTime()) continue;
        await unlink(file);
        cleanup.removed++;
        cleanup.bytes += info.size;
      } catch (error) {
        if (isMissingFileError(error)) continue;
        throw toFsStorageError(error, 'remove a temporary file');
      }
    }
    return cleanup;
  }

  /** Proves the root is writable by creating and removing a probe file. */
  async check(): Promise<void> {
    const probe = path.join(this.#tmpDir, `check-${randomUUID()}`);
    try {
      await mkdir(this.#tmpDir, { recursive: true });
      const handle = await open(probe, 'wx');
      await handle.close();
      await unlink(probe);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new StorageUnavailableError(`local storage at ${this.#root} is not writable: ${message}`, { cause: error });
    }
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }

  async #writeAtomically(target: string, body: Readable, verifier: VerifyingStream, signal?: AbortSignal): Promise<void> {
    await mkdir(this.#tmpDir, { recursive: true });
    const tmp = path.join(this.#tmpDir, randomUUID());
    try {
      // `flush` fsyncs before the stream closes, and pipeline settles only after that close.
      await pipeline(body, verifier, createWriteStream(tmp, { flags: 'wx', flush: true }), signalOption(signal));
      signal?.throwIfAborted();
      const dir = path.dirname(target);
      await mkdir(dir, { recursive: true });
      await rename(tmp, target);
      await syncDirectory(dir, this.#logger);
    } catch (error) {
      await rm(tmp, { force: true }).catch((err: unknown) => this.#logger?.warn({ file: tmp, err: errorReason(err) }, 'could not remove a temporary file after a failed write'));
      throw error;
    }
  }

  #pathOf(key: string): string {
    assertValidKey(key);
    const resolved = path.resolve(this.#root, key);
    // Defence in depth: validation already rules this out.
    if (!resolved.startsWith(this.#root + path.sep)) throw new InvalidBlobKeyError(key, 'escapes the store root');
    return resolved;
  }

  async #isFile(file: string): Promise<boolean> {
    try {
      return (await stat(file)).isFile();
    } catch (error) {
      if (isMissingFileError(error)) return false;
      throw error;
    }
  }
}

/** Makes a rename durable. Some filesystems cannot fsync a directory; the rename has happened either way. */
async function syncDirectory(dir: string, logger: Logger | undefined): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    // best effort, see above
    logger?.debug({ dir, err: errorReason(err) }, 'directory not fsynced after a rename');
  } finally {
    await handle?.close().catch((err: unknown) => logger?.debug({ dir, err: errorReason(err) }, 'directory handle not closed'));
  }
}
