export type { BlobRead, BlobStore, ByteRange, GetOptions, PresignOptions, PutOptions, PutResult } from './blob-store.js';
export {
  BlobNotFoundError,
  HashMismatchError,
  InvalidBlobKeyError,
  RangeNotSatisfiableError,
  SizeLimitError,
  StorageUnavailableError,
} from './errors.js';
export { blobKey, isSha256Hex, metadataKey } from './keys.js';
export { assertValidKey } from './key-validation.js';
export { VerifyingStream, type VerifiedDigest, type VerifyingStreamOptions } from './verifying-stream.js';
export { FsBlobStore, type FsBlobStoreOptions } from './fs-blob-store.js';
export { S3BlobStore, type S3BlobStoreOptions } from './s3-blob-store.js';
export type { S3ConnectionOptions } from './s3-client.js';
export { createBlobStore, type FsStorageSettings, type S3StorageSettings, type StorageSettings } from './create-blob-store.js';
