import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { HashMismatchError, SizeLimitError } from './errors.js';

/** A digest bytes must hash to: sha256 for PyPI's files and metadata, sha512 (or sha1) for npm's tarballs. */
export interface ExpectedDigest {
  algorithm: 'sha256' | 'sha512' | 'sha1';
  /** Hex, any case. */
  hex: string;
}

/** The sha256 digest `hex`. */
export function sha256Digest(hex: string): ExpectedDigest {
  return { algorithm: 'sha256', hex };
}

/** What a listed file's bytes must hash to: the digest its listing gives (npm's sha512), else the sha256 it is listed by. */
export function listedFileDigest(sha256: string, digest: ExpectedDigest | undefined): ExpectedDigest {
  return digest ?? sha256Digest(sha256);
}

/** What the bytes that passed through a {@link VerifyingStream} were. */
export interface VerifiedDigest {
  /** The bytes' digest in the expected algorithm (sha256 when none was expected). */
  hex: string;
  size: number;
}

export interface VerifyingStreamOptions {
  /** The stream fails at its end, before signalling end, unless the bytes hash to this. */
  expected?: ExpectedDigest;
  /** The stream fails as soon as more than this many bytes have passed. */
  maxBytes?: number;
  /**
   * Holds each chunk back until the next one arrives, and the last one until the hash matched: for
   * a consumer that cannot take bytes back (an HTTP response), so a wrong file never reaches it
   * complete. A store does not need it: it fails the write on the error instead.
   */
  holdLastChunk?: boolean;
  /**
   * Called once every byte passed and hashed to `expected` (before the stream ends): from
   * then on the bytes are known good, whatever their consumer still does with them.
   */
  onVerified?: (digest: VerifiedDigest) => void;
}

/**
 * A pass-through that hashes (the expected digest's algorithm, sha256 by default) and counts the bytes flowing through it. It fails with
 * {@link SizeLimitError} once `maxBytes` is exceeded and with {@link HashMismatchError} in `flush`,
 * that is before its readable side ends, so whatever consumes it (a file write, a multipart upload)
 * sees an error instead of a clean end and never commits bad bytes. `mismatch` and `tooLarge` say
 * afterwards which check failed, whatever error the surrounding pipeline reported first.
 */
export class VerifyingStream extends Transform {
  readonly #hash: Hash;
  readonly #expected: string | undefined;
  readonly #maxBytes: number | undefined;
  readonly #holdLastChunk: boolean;
  readonly #onVerified: ((digest: VerifiedDigest) => void) | undefined;
  #held: Buffer | undefined;
  #size = 0;
  #digest: VerifiedDigest | undefined;
  #mismatch = false;
  #tooLarge = false;

  constructor(options: VerifyingStreamOptions = {}) {
    super();
    this.#hash = createHash(options.expected?.algorithm ?? 'sha256');
    this.#expected = options.expected?.hex.toLowerCase();
    this.#maxBytes = options.maxBytes;
    this.#holdLastChunk = options.holdLastChunk ?? false;
    this.#onVerified = options.onVerified;
  }

  /** Bytes seen so far (including a chunk that went over `maxBytes`). */
  get bytesSeen(): number {
    return this.#size;
  }

  /** Whether the stream failed because the bytes did not hash to `expected`. */
  get mismatch(): boolean {
    return this.#mismatch;
  }

  /** Whether the stream failed because more than `maxBytes` arrived. */
  get tooLarge(): boolean {
    return this.#tooLarge;
  }

  /** The digest and size once every byte passed and verified; undefined before. */
  get digest(): VerifiedDigest | undefined {
    return this.#digest;
  }

  /** The digest and size; throws unless the stream has ended successfully. */
  verified(): VerifiedDigest {
    if (!this.#digest) throw new Error('the stream has not ended successfully');
    return this.#digest;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#size += chunk.length;
    if (this.#maxBytes !== undefined && this.#size > this.#maxBytes) {
      this.#tooLarge = true;
      callback(new SizeLimitError(this.#maxBytes));
      return;
    }
    this.#hash.update(chunk);
    if (!this.#holdLastChunk) {
      callback(null, chunk);
      return;
    }
    if (this.#held) this.push(this.#held);
    this.#held = chunk;
    callback();
  }

  override _flush(callback: TransformCallback): void {
    const hex = this.#hash.digest('hex');
    if (this.#expected !== undefined && hex !== this.#expected) {
      this.#mismatch = true;
      callback(new HashMismatchError(this.#expected, hex));
      return;
    }
    if (this.#held) this.push(this.#held);
    this.#held = undefined;
    this.#digest = { hex, size: this.#size };
    if (this.#expected !== undefined) this.#onVerified?.(this.#digest);
    callback();
  }
}
