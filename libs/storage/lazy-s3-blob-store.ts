import type { Readable } from 'node:stream';
import { errorReason } from '../log/index.js';
import type { BlobRead, BlobStore, ByteRange, GetOptions, PresignOptions, PutOptions, PutResult, OrphanCleanup } from './blob-store.js';
import type { S3BlobStore as RealS3BlobStore, S3BlobStoreOptions } from './s3-blob-store.js';

/**
 * The S3 {@link BlobStore}, with the AWS SDK (tens of MiB of resident memory) loaded on first use
 * rather than when `libs/storage` is imported: services on the fs store never load it. Behaves as
 * the store in `s3-blob-store.ts` it delegates to; bad options throw on first use instead of here.
 */
export class LazyS3BlobStore implements BlobStore {
  readonly kind = 's3' as const;
  #store?: Promise<RealS3BlobStore>;
  #closed = false;

  constructor(private readonly options: S3BlobStoreOptions) {}

  #real(): Promise<RealS3BlobStore> {
    this.#store ??= import('./s3-blob-store.js').then(({ S3BlobStore }) => new S3BlobStore(this.options));
    return this.#store;
  }

  async put(key: string, body: Readable, options?: PutOptions): Promise<PutResult> {
    let store: RealS3BlobStore;
    try {
      store = await this.#real();
    } catch (error) {
      body.destroy();
      throw error;
    }
    return store.put(key, body, options);
  }

  async get(key: string, options?: GetOptions): Promise<BlobRead | null> {
    return (await this.#real()).get(key, options);
  }

  async readRange(key: string, range: ByteRange, signal?: AbortSignal): Promise<Buffer> {
    return (await this.#real()).readRange(key, range, signal);
  }

  async stat(key: string): Promise<{ size: number } | null> {
    return (await this.#real()).stat(key);
  }

  async delete(key: string): Promise<void> {
    return (await this.#real()).delete(key);
  }

  async presignedUrl(key: string, options: PresignOptions): Promise<string> {
    return (await this.#real()).presignedUrl(key, options);
  }

  async removeOrphans(startedBefore: Date): Promise<OrphanCleanup> {
    return (await this.#real()).removeOrphans(startedBefore);
  }

  async check(): Promise<void> {
    return (await this.#real()).check();
  }

  /** Idempotent; a store never used has nothing to close (and loads nothing to close it). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#store) return;
    let store: RealS3BlobStore;
    try {
      store = await this.#store;
    } catch (error) {
      // Nothing was loaded to close; the error already reached the calls that used the store.
      this.options.logger?.debug({ err: errorReason(error) }, 'S3 store never loaded; nothing to close');
      return;
    }
    await store.close();
  }
}
