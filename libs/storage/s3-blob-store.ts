import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  type GetObjectCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { errorReason, type Logger } from '../log/index.js';
import type { BlobRead, BlobStore, ByteRange, GetOptions, OrphanCleanup, PresignOptions, PutOptions, PutResult } from './blob-store.js';
import { collectExactRange, firstBytes } from './byte-ranges.js';
import { attachmentDisposition } from './content-disposition.js';
import { RangeNotSatisfiableError, StorageUnavailableError } from './errors.js';
import { assertValidKey } from './key-validation.js';
import { createS3Client, type S3ConnectionOptions } from './s3-client.js';
import { isS3InvalidRange, isS3NotFound, isS3NotImplemented, toS3StorageError } from './s3-errors.js';
import { discard, signalOption } from './stream-helpers.js';
import { VerifyingStream } from './verifying-stream.js';

const MIB = 1024 * 1024;
/** S3's minimum size of every part but the last. */
const MIN_PART_SIZE = 5 * MIB;
const DEFAULT_PART_SIZE = 8 * MIB;
const DEFAULT_QUEUE_SIZE = 2;
const CHECK_TIMEOUT_MS = 5_000;
/**
 * After an abort, put() waits this long for the upload to unwind (in-flight part finished,
 * multipart upload aborted) before giving up on it; the abort request then still runs in the background.
 */
const ABORT_GRACE_MS = 5_000;

export interface S3BlobStoreOptions extends S3ConnectionOptions {
  bucket: string;
  /** Multipart part size; at least 5 MiB. Default 8 MiB. */
  partSizeBytes?: number;
  /** Parts uploaded concurrently per put. Default 2. */
  queueSize?: number;
  /** Where failures reported elsewhere or of cleanup (a background abort) are logged at debug. */
  logger?: Logger;
}

/**
 * A {@link BlobStore} on an S3 bucket. Bodies stream through a {@link VerifyingStream} into a
 * multipart upload that is completed only after the last byte has been verified, so a mismatch,
 * size overrun or abort never makes an object visible and the parts are discarded.
 *
 * Memory per concurrent put is about `(queueSize + 1) × partSizeBytes` (24 MiB by default),
 * whatever the body's size.
 *
 * An abort during the body makes put() wait for the in-flight part and the AbortMultipartUpload
 * (at most a few seconds) so nothing is left behind when it rejects. An abort that arrives after the
 * last byte was verified cannot stop CompleteMultipartUpload; the put then succeeds, with a valid object.
 */
export class S3BlobStore implements BlobStore {
  readonly kind = 's3' as const;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #partSize: number;
  readonly #queueSize: number;
  readonly #logger: Logger | undefined;
  #closed = false;

  constructor(options: S3BlobStoreOptions) {
    this.#logger = options.logger;
    this.#partSize = options.partSizeBytes ?? DEFAULT_PART_SIZE;
    this.#queueSize = options.queueSize ?? DEFAULT_QUEUE_SIZE;
    if (!Number.isSafeInteger(this.#partSize) || this.#partSize < MIN_PART_SIZE) {
      throw new RangeError(`partSizeBytes must be an integer of at least ${MIN_PART_SIZE}`);
    }
    if (!Number.isSafeInteger(this.#queueSize) || this.#queueSize < 1) {
      throw new RangeError('queueSize must be a positive integer');
    }
    this.#bucket = options.bucket;
    this.#client = createS3Client(options);
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    try {
      assertValidKey(key);
      options.signal?.throwIfAborted();
      // No early `onVerified`: the commit is the upload itself, and what an endpoint shows of an object
      // while it is written is its own affair (s3rver shows it partial), so callers wait for the object.
      const verifier = new VerifyingStream({ ...options, onVerified: undefined });
      // Content-addressed keys: an existing object already holds these bytes, so only verify them.
      if ((await this.stat(key)) !== null) {
        await pipeline(body, verifier, discard(), signalOption(options.signal));
        return { key, ...verifier.verified() };
      }
      await this.#upload(key, body, verifier, options);
      return { key, ...verifier.verified() };
    } catch (error) {
      // S3 failures are already mapped; body-side errors (mismatch, size, abort, source) pass as is.
      body.destroy();
      throw error;
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<BlobRead | null> {
    assertValidKey(key);
    const { range, signal } = options;
    if (range && !isWellFormed(range)) return this.#unsatisfiable(key);
    let out: GetObjectCommandOutput;
    try {
      out = await this.#client.send(
        new GetObjectCommand({
          Bucket: this.#bucket,
          Key: key,
          ...(range && { Range: `bytes=${range.start}-${range.end}` }),
        }),
        withAbortSignal(signal),
      );
    } catch (error) {
      if (isS3NotFound(error)) return null;
      if (range && isS3InvalidRange(error)) return this.#unsatisfiable(key);
      throw toS3StorageError(error, `get ${key}`);
    }
    if (!(out.Body instanceof Readable)) throw new StorageUnavailableError(`S3 get ${key}: response has no body stream`);
    const body = out.Body;
    if (!range) return { body, size: out.ContentLength ?? 0 };
    const served = parseContentRange(out.ContentRange);
    if (!served || served.start !== range.start) {
      body.destroy();
      throw new StorageUnavailableError(`S3 get ${key}: endpoint did not honour the Range header`);
    }
    const end = Math.min(range.end, served.end);
    // Some S3-compatible servers (s3rver) answer `bytes=0-0` with the whole object.
    const trimmed = served.end > end ? firstBytes(body, end - range.start + 1) : body;
    return { body: trimmed, size: served.size, range: { start: range.start, end } };
  }

  async readRange(key: string, range: ByteRange, signal?: AbortSignal): Promise<Buffer> {
    return collectExactRange(key, await this.get(key, signal ? { range, signal } : { range }), range);
  }

  async stat(key: string): Promise<{ size: number } | null> {
    assertValidKey(key);
    try {
      const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }));
      return { size: head.ContentLength ?? 0 };
    } catch (error) {
      if (isS3NotFound(error)) return null;
      throw toS3StorageError(error, `stat ${key}`);
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }));
    } catch (error) {
      if (isS3NotFound(error)) return;
      throw toS3StorageError(error, `delete ${key}`);
    }
  }

  async presignedUrl(key: string, options: PresignOptions): Promise<string> {
    assertValidKey(key);
    const command = new GetObjectCommand({
      Bucket: this.#bucket,
      Key: key,
      ...(options.filename !== undefined && { ResponseContentDisposition: attachmentDisposition(options.filename) }),
    });
    try {
      return await getSignedUrl(this.#client, command, { expiresIn: options.expiresInSeconds });
    } catch (error) {
      throw toS3StorageError(error, `presign ${key}`);
    }
  }

  /**
   * Aborts multipart uploads initiated before `startedBefore` (a fetcher killed mid-upload leaves its
   * parts billed until then). An endpoint that cannot list them is reported, not an error: a bucket
   * lifecycle rule (AbortIncompleteMultipartUpload) does the same job there.
   */
  async removeOrphans(startedBefore: Date): Promise<OrphanCleanup> {
    const cleanup: OrphanCleanup = { removed: 0, bytes: 0 };
    try {
      let markers: { KeyMarker?: string; UploadIdMarker?: string } = {};
      for (;;) {
        const page = await this.#client.send(new ListMultipartUploadsCommand({ Bucket: this.#bucket, ...markers }));
        for (const upload of page.Uploads ?? []) {
          if (!upload.Key || !upload.UploadId || !upload.Initiated || upload.Initiated >= startedBefore) continue;
          await this.#client.send(new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: upload.Key, UploadId: upload.UploadId }));
          cleanup.removed++;
        }
        if (!page.IsTruncated) break;
        markers = { KeyMarker: page.NextKeyMarker, UploadIdMarker: page.NextUploadIdMarker };
      }
    } catch (error) {
      if (isS3NotImplemented(error)) return { ...cleanup, unsupported: `bucket ${this.#bucket}'s endpoint cannot list incomplete multipart uploads` };
      throw toS3StorageError(error, 'clean up incomplete multipart uploads');
    }
    return cleanup;
  }

  /** Throws {@link StorageUnavailableError} unless the bucket answers HeadBucket within a few seconds. */
  async check(): Promise<void> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.#bucket }), {
        abortSignal: AbortSignal.timeout(CHECK_TIMEOUT_MS),
      });
    } catch (error) {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new StorageUnavailableError(`S3 bucket ${this.#bucket} is not reachable: ${message}`, { cause: error });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.destroy();
  }

  /** null when the object is missing, else the error naming its size (S3's 416 does not carry it). */
  async #unsatisfiable(key: string): Promise<null> {
    const found = await this.stat(key);
    if (found === null) return null;
    throw new RangeNotSatisfiableError(found.size);
  }

  async #upload(key: string, body: Readable, verifier: VerifyingStream, options: PutOptions): Promise<void> {
    const { signal } = options;
    // The first failure on the body side (mismatch, size, abort, source error) is the real reason;
    // the upload merely reports it, or the failure of its own cleanup.
    let bodyError: unknown;
    verifier.on('error', (error) => {
      bodyError ??= error;
    });
    // pipeline destroys both streams on a source error or an abort, which makes the upload's read
    // of `verifier` throw before it reaches CompleteMultipartUpload.
    // Its failure reaches put() as `bodyError` (the verifier is destroyed with it) or as the upload's.
    pipeline(body, verifier, signalOption(signal)).catch((error: unknown) => this.#logger?.debug({ key, err: errorReason(error) }, 'S3 upload body pipeline ended with an error'));
    const upload = new Upload({
      client: this.#client,
      params: {
        Bucket: this.#bucket,
        Key: key,
        Body: verifier,
        ...(options.contentType !== undefined && { ContentType: options.contentType }),
      },
      partSize: this.#partSize,
      queueSize: this.#queueSize,
      leavePartsOnError: false,
    });
    let grace: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      grace = setTimeout(() => {
        upload.abort().catch((error: unknown) => this.#logger?.debug({ key, err: errorReason(error) }, 'S3 multipart upload not aborted'));
      }, ABORT_GRACE_MS);
      grace.unref();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
    } catch (error) {
      verifier.destroy();
      throw bodyError ?? toS3StorageError(error, `put ${key}`);
    } finally {
      clearTimeout(grace);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

function isWellFormed(range: ByteRange): boolean {
  return Number.isSafeInteger(range.start) && Number.isSafeInteger(range.end) && range.start >= 0 && range.end >= range.start;
}

/** `bytes 0-99/1234` → start, end, size. */
function parseContentRange(header: string | undefined): { start: number; end: number; size: number } | undefined {
  const match = header ? /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header) : null;
  if (!match) return undefined;
  return { start: Number(match[1]), end: Number(match[2]), size: Number(match[3]) };
}

function withAbortSignal(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
  return signal ? { abortSignal: signal } : {};
}
