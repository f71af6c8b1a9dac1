/**
 * What every error below extends: Orchard's own storage signals, as opposed to failures of an SDK or
 * the file system, so a store can pass them through untouched.
 */
export abstract class StorageError extends Error {
  abstract readonly code: string;
}

/** The streamed bytes do not hash to the expected sha256; nothing was stored. */
export class HashMismatchError extends StorageError {
  readonly code = 'HASH_MISMATCH';
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`sha256 mismatch: expected ${expected}, got ${actual}`);
    this.name = 'HashMismatchError';
  }
}

/** The body exceeded the allowed size; nothing was stored. */
export class SizeLimitError extends StorageError {
  readonly code = 'SIZE_LIMIT';
  constructor(readonly limit: number) {
    super(`body exceeds ${limit} bytes`);
    this.name = 'SizeLimitError';
  }
}

/** The store could not be reached (I/O error, S3 endpoint down). */
export class StorageUnavailableError extends StorageError {
  readonly code = 'STORAGE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageUnavailableError';
  }
}

/** A range outside the object. */
export class RangeNotSatisfiableError extends StorageError {
  readonly code = 'RANGE_NOT_SATISFIABLE';
  constructor(readonly size: number) {
    super(`range not satisfiable for an object of ${size} bytes`);
    this.name = 'RangeNotSatisfiableError';
  }
}

/** No object exists under the key (for reads that cannot answer null, like `readRange`). */
export class BlobNotFoundError extends StorageError {
  readonly code = 'BLOB_NOT_FOUND';
  constructor(readonly key: string) {
    super(`no object under ${JSON.stringify(key)}`);
    this.name = 'BlobNotFoundError';
  }
}

/** A storage key that is not a safe relative path (`..`, absolute, NUL, characters outside `[A-Za-z0-9._/-]`). */
export class InvalidBlobKeyError extends StorageError {
  readonly code = 'INVALID_BLOB_KEY';
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(`invalid storage key ${JSON.stringify(key)}: ${reason}`);
    this.name = 'InvalidBlobKeyError';
  }
}
