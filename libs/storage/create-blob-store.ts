import type { Logger } from '../log/index.js';
import type { BlobStore } from './blob-store.js';
import { FsBlobStore } from './fs-blob-store.js';
import { LazyS3BlobStore } from './lazy-s3-blob-store.js';

/** Settings for the local-directory store (the embedded default). */
export interface FsStorageSettings {
  kind: 'fs';
  /** Directory holding the objects. */
  root: string;
}

/** Settings for an S3 or S3-compatible bucket. */
export interface S3StorageSettings {
  kind: 's3';
  endpoint?: string;
  bucket: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle: boolean;
}

export type StorageSettings = FsStorageSettings | S3StorageSettings;

/**
 * The {@link BlobStore} the settings describe (the S3 one loads the AWS SDK on first use). The
 * caller owns it and must `close()` it.
 */
export function createBlobStore(settings: StorageSettings, logger?: Logger): BlobStore {
  switch (settings.kind) {
    case 'fs':
      return new FsBlobStore({ root: settings.root, ...(logger ? { logger } : {}) });
    case 's3': {
      const { kind: _kind, ...options } = settings;
      return new LazyS3BlobStore({ ...options, ...(logger ? { logger } : {}) });
    }
    default: {
      const unknown: never = settings;
      throw new Error(`unknown storage kind: ${JSON.stringify((unknown as { kind: unknown }).kind)}`);
    }
  }
}
