import type { IncomingMessage, ServerResponse } from 'node:http';
import { SingleFlight } from '../../libs/cache/index.js';
import type { UpstreamConfig } from '../../libs/config/index.js';
import type { UpstreamClient } from '../../libs/http/index.js';
import type { Metrics } from '../../libs/metrics/index.js';
import type { Counter } from 'prom-client';
import { BodyTooLargeError, readBounded } from '../../libs/pages/index.js';
import { blobKey, type BlobStore } from '../../libs/storage/index.js';
import { readOnceWhenVerified, type FileLocation, type FileLocator } from './file-locator.js';
import type { ServeTracker } from '../../libs/quota/index.js';
import { HttpError, toHttpError } from './http-errors.js';
import type { MetadataFiles } from './metadata-files.js';
import { ReadMemo, type MemoFile } from './read-memo.js';
import { sendBuffer, sendStoredFile, wholeBodyHeaders } from './send-file.js';
import { readVerifiedFromFetcher, streamFromFetcher, type FetcherStreamDeps } from './stream-from-fetcher.js';
import { streamFromUpstream } from './stream-from-upstream.js';

export interface FileAnswersDeps {
  files: FileLocator;
  metadata: MetadataFiles;
  store: BlobStore;
  http: UpstreamClient;
  upstreams: () => Promise<UpstreamConfig[]>;
  metrics: Metrics;
  /** ORCHARD_MAX_FILE_BYTES: the largest file streamed straight from an upstream. */
  maxFileBytes: number;
  /** `redirect`: cached files answer 307 to a presigned storage URL (s3) instead of streaming. */
  downloadMode: 'stream' | 'redirect';
  /** Small verified files (and metadata files) are remembered here by URL path. */
  memo: ReadMemo;
  /** Following downloads in progress at the fetcher that owns them. */
  inflight: FetcherStreamDeps;
  /** Where serves of stored files are counted (with a storage quota). */
  served?: ServeTracker;
}

const CONTENT_TYPE = 'application/octet-stream';

type Inflight = Extract<FileLocation, { kind: 'inflight' }>;
/** Where the bytes of an answer held whole in memory came from (`orchard_bytes_served_total{source}`). */
type ServedFrom = 'memory' | 'storage' | 'fetcher';

/**
 * `/files/<project>/<sha256>/<filename>` and its PEP 658 `.metadata` sibling: from the memo, from
 * storage, following the fetcher's download in progress, or (the one fallback) from the upstream.
 */
export class FileAnswers {
  // Bound once: a memo hit is the hot path.
  private readonly artifactHits: Counter.Internal;
  private readonly served: Record<ServedFrom, Counter.Internal>;
  /** Verified downloads being read whole from the fetcher, by fetch job id: one read for every request waiting here. */
  private readonly sharedReads = new SingleFlight<Buffer | null>();

  constructor(private readonly deps: FileAnswersDeps) {
    this.artifactHits = deps.metrics.cacheLookups.labels({ category: 'artifact', result: 'hit' });
    const served = (source: ServedFrom) => deps.metrics.bytesServed.labels({ source });
    this.served = { memory: served('memory'), storage: served('storage'), fetcher: served('fetcher') };
  }

  /** Answers from the memo when it holds this URL (a listing confirmed it and the bytes were verified). */
  remembered(req: IncomingMessage, res: ServerResponse, project: string, sha256: string, filename: string): boolean {
    const entry = this.deps.memo.file(ReadMemo.fileKey(project, sha256, filename));
    if (!entry) return false;
    if (!filename.endsWith('.metadata')) {
      this.artifactHits.inc();
      this.deps.served?.served(sha256);
    }
    this.sendWhole(req, res, entry, filename, 'memory');
    return true;
  }

  metadataFile(req: IncomingMessage, res: ServerResponse, project: string, sha256: string, filename: string): Promise<void> {
    return this.deps.metadata.serve(req, res, project, sha256, filename);
  }

  async file(req: IncomingMessage, res: ServerResponse, project: string, sha256: string, filename: string): Promise<void> {
    try {
      await this.answerFile(req, res, project, sha256, filename);
    } catch (err) {
      throw await this.explainEviction(err, res, sha256, filename);
    }
  }

  /**
   * A file the storage quota evicted that cannot be fetched again (upstream down, queue stuck) is a
   * 503 that says so, rather than the bare upstream error of a file the client may know was cached.
   */
  private async explainEviction(err: unknown, res: ServerResponse, sha256: string, filename: string): Promise<unknown> {
    const known = toHttpError(err);
    if (res.headersSent || (known?.status !== 502 && known?.status !== 504) || !(await this.deps.files.wasEvicted(sha256))) return err;
    return new HttpError(503, 'evicted', `${filename} was evicted from the cache (storage quota) and cannot be fetched again right now: ${known.message}`, {
      'Retry-After': '30',
    });
  }

  private async answerFile(req: IncomingMessage, res: ServerResponse, project: string, sha256: string, filename: string): Promise<void> {
    const { deps } = this;
    let location = await deps.files.locate(project, sha256, filename);
    // A byte range (a resumed download, uv reading a wheel's central directory) is answered from
    // storage: a download in progress is awaited for a while rather than answered in full. So is a
    // verified one in redirect mode (moments from the bucket): its client gets the bucket's URL.
    if (location.kind === 'inflight' && (req.headers.range !== undefined || (location.verified && deps.downloadMode === 'redirect'))) {
      location = (await deps.files.untilStored(location)) ?? location;
    }
    // A serve of a stored file is counted (hit ratio, eviction order) only when no fetch was needed;
    // every stream renews its file while it runs.
    const send = (size?: number, hit = false) => {
      if (hit) deps.served?.served(sha256);
      const ended = deps.served?.streamStarted(sha256);
      if (ended) res.once('close', ended);
      return sendStoredFile(req, res, deps.store, deps.metrics, {
        key: blobKey(sha256),
        sha256,
        filename,
        contentType: CONTENT_TYPE,
        size,
        redirect: deps.downloadMode === 'redirect',
      });
    };
    if (location.kind === 'stored') {
      if (location.size !== undefined && this.memoizable(req, location.size)) {
        if (await this.readWhole(req, res, { project, sha256, filename, size: location.size }, location.hit)) return;
      } else if (await send(location.size, location.hit)) return;
      location = await deps.files.refetch(project, sha256, filename);
      if (location.kind === 'stored') {
        if (await send()) return;
        throw inconsistentStorage();
      }
    }
    if (location.kind === 'inflight' && this.sharable(req, location) && (await this.fromSharedRead(req, res, location, sha256, filename))) return;
    if (location.kind === 'inflight' && (await streamFromFetcher(req, res, deps.inflight, location, sha256, filename))) return;
    // No fetcher took the job in time, or its download broke before a byte (or the queue is down):
    // the one fallback that streams from the upstream itself.
    const upstream = (await deps.upstreams()).find((u) => u.name === location.source.upstream);
    await streamFromUpstream(req, res, deps.http, upstream, location.source, sha256, deps.metrics, deps.maxFileBytes);
  }

  /** A plain GET of a verified download small enough to be read once for every request waiting on it. */
  private sharable(req: IncomingMessage, location: Inflight): boolean {
    return location.verified === true && readOnceWhenVerified(location.size) && req.method === 'GET' && req.headers.range === undefined;
  }

  /**
   * Answers a verified download from one whole read of the fetcher's spool shared by every request
   * in this process waiting on it (a herd gets its bytes as soon as they are verified, without each
   * pulling them through the fetcher or waiting for the store's fsync). Not remembered: the memo
   * takes files read from storage, once their record is there. False, having sent nothing, when the
   * fetcher delivered no byte.
   */
  private async fromSharedRead(req: IncomingMessage, res: ServerResponse, location: Inflight, sha256: string, filename: string): Promise<boolean> {
    const body = await this.sharedReads.run(location.jobId, () => readVerifiedFromFetcher(this.deps.inflight, location, sha256));
    if (!body) return false;
    res.setHeader('X-Orchard-Cache', 'miss');
    this.sendWhole(req, res, { kind: 'file', body, sha256, contentType: CONTENT_TYPE }, filename, 'fetcher');
    return true;
  }

  /** A plain GET of a file small enough for the memo (redirect mode always sends clients to storage). */
  private memoizable(req: IncomingMessage, size: number): boolean {
    return this.deps.memo.acceptsFile(size) && this.deps.downloadMode !== 'redirect' && req.method === 'GET';
  }

  /** Reads a small stored file whole, sends it, and remembers it. Returns false when the store does not have it. */
  private async readWhole(req: IncomingMessage, res: ServerResponse, file: { project: string; sha256: string; filename: string; size: number }, hit = false): Promise<boolean> {
    const blob = await this.deps.store.get(blobKey(file.sha256));
    if (!blob) return false;
    let body: Buffer;
    try {
      body = await readBounded(blob.body, file.size, file.filename);
    } catch (err) {
      if (err instanceof BodyTooLargeError) throw inconsistentStorage();
      throw err;
    }
    if (body.length !== file.size) throw inconsistentStorage();
    const entry: MemoFile = { kind: 'file', body, sha256: file.sha256, contentType: CONTENT_TYPE };
    if (hit) this.deps.served?.served(file.sha256);
    this.deps.memo.putFile(ReadMemo.fileKey(file.project, file.sha256, file.filename), entry);
    this.sendWhole(req, res, entry, file.filename, 'storage');
    return true;
  }

  /**
   * A file held whole in memory, with the same headers as one streamed from storage (which, for a
   * file, carries no `X-Orchard-Cache`: that header marks answers not from storage).
   */
  private sendWhole(req: IncomingMessage, res: ServerResponse, entry: MemoFile, filename: string, source: ServedFrom): void {
    if (filename.endsWith('.metadata')) res.setHeader('X-Orchard-Cache', 'hit');
    else {
      res.once('finish', () => {
        if (req.method === 'GET' && (res.statusCode === 200 || res.statusCode === 206)) this.served[source].inc(Number(res.getHeader('content-length')));
      });
    }
    const file = { sha256: entry.sha256, filename, contentType: entry.contentType };
    sendBuffer(req, res, entry.body, file, source === 'memory' ? (entry.head ??= wholeBodyHeaders({ ...file, size: entry.body.length })) : undefined);
  }
}

function inconsistentStorage(): HttpError {
  return new HttpError(503, 'storage_inconsistent', 'the cached file is not readable from storage right now');
}
