import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { request, type Dispatcher } from 'undici';
import type { Logger } from '../../libs/log/index.js';
import type { Metrics } from '../../libs/metrics/index.js';
import { VerifyingStream, blobKey, type BlobStore, listedFileDigest } from '../../libs/storage/index.js';
import { bodyDelivered } from './body-delivery.js';
import type { FileLocation, FileLocator } from './file-locator.js';
import { HttpError } from './http-errors.js';
import { IMMUTABLE_FILE, fileHeaders, isFresh, setHeaders } from './send-file.js';

type Inflight = Extract<FileLocation, { kind: 'inflight' }>;

export interface FetcherStreamDeps {
  files: FileLocator;
  store: BlobStore;
  /** Connections to the fetchers' ops ports (internal traffic: no upstream address policy). */
  dispatcher: Dispatcher;
  metrics: Metrics;
  logger: Logger;
  maxFileBytes: number;
  /** How long a client's download waits for another fetcher when the one serving it went away. */
  resumeWaitMs: number;
}

/** A download followed across this many fetchers going away at most (shutdowns, crashes). */
const MAX_RESUMES = 5;

/**
 * Serves a file while the fetcher that owns its one upstream download is still receiving it: the
 * client gets the bytes as they arrive (first byte about when the fetcher has it), however long the
 * download takes and however many clients wait. If that fetcher goes away mid-file, the answer
 * continues from the same offset — from the fetcher that took the job over, or from storage once it
 * is there. The bytes are hashed on the way and the last chunk is held back until the sha256
 * matches, so a wrong file never reaches a client complete.
 *
 * Returns false, having sent nothing, when the fetcher delivered no byte at all (its download
 * failed at once, or it went away): the caller then falls back to the upstream itself.
 */
export async function streamFromFetcher(
  req: IncomingMessage,
  res: ServerResponse,
  deps: FetcherStreamDeps,
  location: Inflight,
  sha256: string,
  filename: string,
): Promise<boolean> {
  const headers = () => {
    // As for a stored file: a client (or cache) only ever holds a complete body, and a complete
    // body is a verified one (a mismatch cuts the connection before the last chunk).
    res.statusCode = 200;
    setHeaders(res, fileHeaders({ sha256, filename, contentType: 'application/octet-stream', cacheControl: IMMUTABLE_FILE, acceptRanges: true }));
    res.setHeader('X-Orchard-Cache', 'miss');
    if (location.size !== undefined) res.setHeader('Content-Length', String(location.size));
  };
  if (req.method === 'HEAD') {
    headers();
    res.end();
    return true;
  }
  // The ETag is the content's identity: a client holding it holds these very bytes, stored or not yet.
  if (isFresh(req, `"${sha256}"`)) {
    headers();
    res.statusCode = 304;
    res.removeHeader('Content-Length');
    res.end();
    return true;
  }
  const controller = new AbortController();
  res.once('close', () => controller.abort());
  const chunks = follow(deps, location, sha256, controller.signal);
  let first: IteratorResult<Buffer>;
  try {
    first = await chunks.next();
  } catch (err) {
    if (controller.signal.aborted) return true;
    deps.logger.warn({ sha256, reason: (err as Error).message }, 'the fetcher delivered no byte of a download; streaming from upstream instead');
    return false;
  }
  headers();
  const verify = verifier(deps, location, sha256, true);
  await pipeline(Readable.from(prepend(first, chunks)), verify, res).catch((err: unknown) => {
    // Headers are out: the error handler can only cut the connection, which is the point.
    if (verify.mismatch) throw digestMismatch(location);
    if (bodyDelivered(res) || controller.signal.aborted) return;
    throw err;
  });
  if (bodyDelivered(res)) deps.metrics.bytesServed.inc({ source: 'fetcher' }, verify.bytesSeen);
  return true;
}

/**
 * Reads a verified download (a few MiB at most) whole from the fetcher and checks its digest again:
 * one read answers every request waiting on it in this process. Null when the fetcher delivered no
 * byte (the caller falls back as for a stream); a mismatch is the same 502 as a stream's.
 */
export async function readVerifiedFromFetcher(deps: FetcherStreamDeps, location: Inflight, sha256: string): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  const verify = verifier(deps, location, sha256, false);
  verify.on('data', (chunk: Buffer) => chunks.push(chunk));
  try {
    // Not cancelled with a client: the read serves every request waiting on it.
    await pipeline(Readable.from(follow(deps, location, sha256)), verify);
  } catch (err) {
    if (verify.mismatch) throw digestMismatch(location);
    if (verify.bytesSeen > 0) throw err;
    deps.logger.warn({ sha256, reason: (err as Error).message }, 'the fetcher delivered no byte of a verified download; streaming from upstream instead');
    return null;
  }
  return Buffer.concat(chunks);
}

/** Checks a followed download against the digest its listing published (`holdLastChunk`: when its bytes go straight to a client). */
function verifier(deps: FetcherStreamDeps, location: Inflight, sha256: string, holdLastChunk: boolean): VerifyingStream {
  return new VerifyingStream({ expected: listedFileDigest(sha256, location.source.digest), maxBytes: deps.maxFileBytes, holdLastChunk });
}

/** The 502 for a download whose bytes do not match the digest its listing published. */
function digestMismatch(location: Inflight): HttpError {
  return new HttpError(502, 'hash_mismatch', `${location.source.filename} does not match its published ${location.source.digest?.algorithm ?? 'sha256'}`);
}

async function* prepend(first: IteratorResult<Buffer>, rest: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  if (first.done) return;
  yield first.value;
  yield* rest;
}

/**
 * The file's bytes in order, from wherever they can be read now. Once bytes went out, a broken
 * source is resumed at the offset reached (from the download's next owner, or storage); before
 * that, the failure is the caller's to handle.
 */
async function* follow(deps: FetcherStreamDeps, first: Inflight, sha256: string, signal?: AbortSignal): AsyncGenerator<Buffer> {
  let offset = 0;
  let location: FileLocation = first;
  for (let resumes = 0; ; resumes++) {
    try {
      const chunks = location.kind === 'inflight' ? fromFetcher(deps.dispatcher, location.url, offset, signal) : fromStore(deps.store, sha256, offset, signal);
      for await (const chunk of chunks) {
        offset += chunk.length;
        yield chunk;
      }
      return;
    } catch (err) {
      if (signal?.aborted || offset === 0 || resumes >= MAX_RESUMES) throw err;
      deps.logger.warn({ sha256, offset, reason: (err as Error).message }, 'the fetcher serving a download went away; resuming it');
      const next = await deps.files.resume(location.kind === 'inflight' ? location : first, deps.resumeWaitMs);
      if (!next || next.kind === 'upstream') throw err;
      location = next;
    }
  }
}

async function* fromFetcher(dispatcher: Dispatcher, url: string, offset: number, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
  const response = await request(`${url}?offset=${offset}`, { dispatcher, signal });
  if (response.statusCode !== 200) {
    await response.body.dump();
    throw new Error(`the fetcher answered ${response.statusCode} for a download in progress`);
  }
  for await (const chunk of response.body) yield chunk as Buffer;
}

async function* fromStore(store: BlobStore, sha256: string, offset: number, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
  const key = blobKey(sha256);
  const stat = await store.stat(key);
  if (!stat) throw new Error('the downloaded file is not in storage');
  if (offset >= stat.size) return;
  const blob = await store.get(key, { range: { start: offset, end: stat.size - 1 }, signal });
  if (!blob) throw new Error('the downloaded file is not in storage');
  for await (const chunk of blob.body) yield chunk as Buffer;
}
