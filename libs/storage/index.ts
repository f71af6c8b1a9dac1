export type { BlobRead, BlobStore, ByteRange, GetOptions, OrphanCleanup, PresignOptions, PutOptions, PutResult } from './blob-store.js';
export { BlobNotFoundError, HashMismatchError, InvalidBlobKeyError, RangeNotSatisfiableError, SizeLimitError, StorageUnavailableError } from './errors.js';
export { blobKey, isSha256Hex, metadataKey } from './keys.js';
export { assertValidKey } from './key-validation.js';
export { VerifyingStream, listedFileDigest, sha256Digest, type ExpectedDigest, type VerifiedDigest, type VerifyingStreamOptions } from './verifying-stream.js';
export { FsBlobStore, type FsBlobStoreOptions } from './fs-blob-store.js';
// The SDK loads on first use: importing libs/storage never pulls in @aws-sdk (see LazyS3BlobStore).
export { LazyS3BlobStore as S3BlobStore } from './lazy-s3-blob-store.js';
export type { S3BlobStoreOptions } from './s3-blob-store.js';
export type { S3ConnectionOptions } from './s3-client.js';
export { createBlobStore, type FsStorageSettings, type S3StorageSettings, type StorageSettings } from './create-blob-store.js';
