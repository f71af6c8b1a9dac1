import type { Readable, Writable } from 'node:stream';
import type { ExpectedDigest, VerifiedDigest } from './verifying-stream.js';

/** An inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface PutOptions {
  /** When set, the object becomes visible only if the streamed bytes hash to this digest. */
  expected?: ExpectedDigest;
  /** When set, the write fails (and nothing is stored) once the body exceeds this many bytes. */
  maxBytes?: number;
  /** Content type recorded with the object (S3) for presigned downloads. */
  contentType?: string;
  signal?: AbortSignal;
  /**
   * Called once the whole body hashed to `expected`, before the object is durable and visible
   * (the fs store's fsync and rename): the caller may serve the bytes it kept from then on. The write
   * can still fail after it. Stores whose commit is not theirs to make atomic (S3) never call it.
   */
  onVerified?: (digest: VerifiedDigest) => void;
}

export interface PutResult {
  key: string;
  /** The body's digest, in the expected digest's algorithm (sha256 when none was expected). */
  hex: string;
  size: number;
}

export interface GetOptions {
  range?: ByteRange;
  signal?: AbortSignal;
  /**
   * Read-ahead of the returned stream. Large (the default) for downloads; small for a reader that
   * stops early, such as the extractor looking for an sdist's PKG-INFO near the start.
   */
  highWaterMark?: number;
}

export interface BlobRead {
  body: Readable;
  /** Size of the whole object. */
  size: number;
  /** The range served, when one was asked for. */
  range?: ByteRange;
  /**
   * Writes the bytes (the range, or the whole object) to `out` and ends it, instead of reading
   * `body`: a store that can read into recycled buffers (fs) offers it for serving downloads. Use one
   * of the two, not both.
   */
  writeTo?: (out: Writable) => Promise<void>;
}

/** What {@link BlobStore.removeOrphans} cleaned up. */
export interface OrphanCleanup {
  /** Half-written files (fs) or incomplete multipart uploads (S3) removed. */
  removed: number;
  /** Their bytes, when the store can tell (fs). */
  bytes: number;
  /** Set when the store cannot list them (an S3 endpoint without ListMultipartUploads). */
  unsupported?: string;
}

export interface PresignOptions {
  expiresInSeconds: number;
  /** File name for Content-Disposition. */
  filename?: string;
}

/**
 * Where Orchard keeps file bytes. Implementations guarantee that an object is visible under its key
 * only once it is complete (and verified, when `expected` is given); a failed or aborted write
 * leaves nothing behind under the key.
 */
export interface BlobStore {
  readonly kind: 'fs' | 's3';
  put(key: string, body: Readable, options?: PutOptions): Promise<PutResult>;
  /** The object, or null when it does not exist. */
  get(key: string, options?: GetOptions): Promise<BlobRead | null>;
  /** Reads exactly bytes start..end (inclusive) into memory; for small random-access reads. */
  readRange(key: string, range: ByteRange, signal?: AbortSignal): Promise<Buffer>;
  /** The object's size, or null when it does not exist. */
  stat(key: string): Promise<{ size: number } | null>;
  delete(key: string): Promise<void>;
  /** A short-lived URL a client can download from directly; undefined when the store has none (fs). */
  presignedUrl?(key: string, options: PresignOptions): Promise<string>;
  /**
   * Removes what writes interrupted by a crash left behind, started before `startedBefore`: temporary
   * files (fs), incomplete multipart uploads (S3). Writes in progress started later are untouched.
   */
  removeOrphans(startedBefore: Date): Promise<OrphanCleanup>;
  /** Throws when the store cannot be reached (readiness). */
  check(): Promise<void>;
  close(): Promise<void>;
}
