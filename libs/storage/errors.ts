/** The streamed bytes do not hash to the expected sha256; nothing was stored. */
export class HashMismatchError extends Error {
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
export class SizeLimitError extends Error {
  readonly code = 'SIZE_LIMIT';
  constructor(readonly limit: number) {
    super(`body exceeds ${limit} bytes`);
    this.name = 'SizeLimitError';
  }
}

/** The store could not be reached (I/O error, S3 endpoint down). */
export class StorageUnavailableError extends Error {
  readonly code = 'STORAGE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageUnavailableError';
  }
}

/** A range outside the object. */
export class RangeNotSatisfiableError extends Error {
  readonly code = 'RANGE_NOT_SATISFIABLE';
  constructor(readonly size: number) {
    super(`range not satisfiable for an object of ${size} bytes`);
    this.name = 'RangeNotSatisfiableError';
  }
}

/** No object exists under the key (for reads that cannot answer null, like `readRange`). */
export class BlobNotFoundError extends Error {
  readonly code = 'BLOB_NOT_FOUND';
  constructor(readonly key: string) {
    super(`no object under ${JSON.stringify(key)}`);
    this.name = 'BlobNotFoundError';
  }
}

/** A storage key that is not a safe relative path (`..`, absolute, NUL, characters outside `[A-Za-z0-9._/-]`). */
export class InvalidBlobKeyError extends Error {
  readonly code = 'INVALID_BLOB_KEY';
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(`invalid storage key ${JSON.stringify(key)}: ${reason}`);
    this.name = 'InvalidBlobKeyError';
  }
}
