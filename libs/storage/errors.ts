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
