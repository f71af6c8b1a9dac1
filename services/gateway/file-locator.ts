import type { EventEmitter } from 'node:events';
import type { Queue, QueueEvents } from 'bullmq';
import { SingleFlight, type ArtifactCache, type FileSource } from '../../libs/cache/index.js';
import { errorReason, type Logger } from '../../libs/log/index.js';
import type { Metrics } from '../../libs/metrics/index.js';
import type { ProjectPages } from '../../libs/pages/index.js';
import { fetchJobId, isFetchStored, isFetchStreaming, within, type Producers } from '../../libs/queue/index.js';
import { blobKey, type BlobStore } from '../../libs/storage/index.js';
import { HttpError, notFound } from './http-errors.js';

export type FileLocation =
  /** `hit`: found stored, without fetching it for this request. */
  | { kind: 'stored'; size?: number; hit?: true }
  /**
   * Being downloaded by a fetcher, which serves the bytes as they arrive (see `InflightDownloads`);
   * `verified`: every byte is there and matched, only the store's commit is still running.
   */
  | { kind: 'inflight'; jobId: string; url: string; size?: number; verified?: boolean; source: FileSource }
  /** Not cached yet and the fetch job did not finish in time (or the queue is down): stream from upstream. */
  | { kind: 'upstream'; source: FileSource };

/** PostgreSQL's record of a stored file (the artifact cache's source of truth). */
export interface ArtifactRecords {
  find(sha256: string): Promise<{ filename: string; metadataSha256: string | null; evictedAt: Date | null } | null>;
}

export interface FileLocatorDeps {
  protocol: string;
  /** Restores an artifact record the cache lost (expired, evicted, flushed). */
  records: ArtifactRecords;
  /** Whether the storage quota evicted a file (asked only when fetching it again failed). */
  evictions: { isEvicted(sha256: string): Promise<boolean> };
  pages: ProjectPages;
  artifacts: ArtifactCache;
  store: BlobStore;
  producers: Producers;
  fetchEvents: QueueEvents;
  fetchWaitMs: number;
  metrics: Metrics;
  logger: Logger;
}

/** Largest verified download read from the fetcher once for every request waiting on it in a process. */
const SHARED_READ_BYTES = 8 * 2 ** 20;

/**
 * Whether a verified download of this size is read from the fetcher once per process and answered
 * from memory to every request waiting on it (FileAnswers), so a herd never waits for the store's fsync.
 */
export function readOnceWhenVerified(size: number | undefined): boolean {
  return size !== undefined && size <= SHARED_READ_BYTES;
}

/** Adding a job takes milliseconds; past this (the queue's Redis unreachable since start) the file streams from upstream. */
const ADD_MS = 2_000;

/**
 * Finds a file's bytes: already in storage, or fetched now by its listing's `fetch` job (one job per
 * sha256 and listing, so concurrent misses share one download; see `fetchJobId`). A file no
 * configured upstream lists under the requested name is a 404.
 */
export class FileLocator {
  /** First fetches in progress in this process, by fetch job id: a herd of requests shares one add and one wait. */
  private readonly fetching = new SingleFlight<FileLocation>();

  constructor(private readonly deps: FileLocatorDeps) {}

  async locate(project: string, sha256: string, filename: string): Promise<FileLocation> {
    const { artifacts, store, metrics, protocol } = this.deps;
    const cached = await artifacts.get(protocol, sha256).catch((err: unknown) => {
      this.deps.logger.debug({ sha256, err: (err as Error).message }, 'artifact cache unavailable; checking storage');
      return null;
    });
    if (cached?.evicted) {
      metrics.cacheLookups.inc({ category: 'artifact', result: 'miss' });
      return this.fetchAgain(project, sha256, filename);
    }
    if (cached) {
      // The bytes are known by their sha256 alone: under a name other than the one they were first
      // fetched as, the listing must give them that name (serving them under any name would let a
      // link misname what a client installs).
      if (cached.filename !== filename && !(await this.deps.pages.lookupFile(project, sha256, filename))) throw notListed(project, filename);
      metrics.cacheLookups.inc({ category: 'artifact', result: 'hit' });
      return { kind: 'stored', size: cached.size, hit: true };
    }
    const stat = await store.stat(blobKey(sha256));
    if (stat) {
      // Without the artifact cache's record of its name, the listing says which names these bytes go
      // by; when the listing cannot be read (upstream down, no cached page), the stored bytes serve.
      const listed = await this.deps.pages.lookupFile(project, sha256, filename).catch((err: unknown) => {
        this.deps.logger.debug({ project, err: (err as Error).message }, 'listing unreadable; serving the stored file');
        return undefined;
      });
      if (listed === null) throw notListed(project, filename);
      metrics.cacheLookups.inc({ category: 'artifact', result: 'hit' });
      void this.restoreRecord(sha256, stat.size);
      return { kind: 'stored', size: stat.size, hit: true };
    }
    metrics.cacheLookups.inc({ category: 'artifact', result: 'miss' });
    const source = await this.deps.pages.lookupFile(project, sha256, filename);
    if (!source) throw notListed(project, filename);
    return this.fetch(project, sha256, source);
  }

  /**
   * Puts PostgreSQL's record of a stored file back into the artifact cache (in the background): with
   * it the file's extracted metadata is advertised on its page again, and later requests skip the
   * storage stat. Nothing to restore while the fetch job has not recorded the file yet.
   */
  private async restoreRecord(sha256: string, size: number): Promise<void> {
    const { records, artifacts, protocol, logger } = this.deps;
    try {
      const row = await records.find(sha256);
      // Evicted yet still stored: about to be deleted, or fetched again and not recorded yet.
      if (!row || row.evictedAt) return;
      await artifacts.set(protocol, sha256, { size, filename: row.filename, ...(row.metadataSha256 ? { metadataSha256: row.metadataSha256 } : {}) });
    } catch (err) {
      logger.debug({ sha256, err: (err as Error).message }, 'could not restore the artifact record');
    }
  }

  /**
   * The caches said the file was stored but the store does not have it (storage wiped, or a new
   * data directory under an old Redis): forget that and fetch it again, like any miss.
   */
  async refetch(project: string, sha256: string, filename: string): Promise<FileLocation> {
    const { artifacts, protocol, logger, store } = this.deps;
    // An unreachable store looks like a missing object; that is a 503, not a reason to fetch again.
    await store.check().catch((err: unknown) => {
      logger.debug({ err: errorReason(err) }, 'storage check failed before a refetch');
      throw new HttpError(503, 'storage_unavailable', 'storage is unavailable right now; retry shortly', { 'Retry-After': '5' });
    });
    logger.warn({ sha256, filename }, 'a file known as cached is missing from storage; fetching it again');
    await artifacts.delete(protocol, sha256).catch((err: unknown) => logger.debug({ err: (err as Error).message }, 'could not forget the artifact record'));
    return this.fetchAgain(project, sha256, filename);
  }

  /**
   * Whether a failed fetch of this file is of one the storage quota evicted (so its error can say
   * why a file that was cached is not); false when PostgreSQL cannot tell.
   */
  async wasEvicted(sha256: string): Promise<boolean> {
    return this.deps.evictions.isEvicted(sha256).catch((err: unknown) => {
      this.deps.logger.debug({ sha256, err: errorReason(err) }, 'could not tell whether a file was evicted');
      return false;
    });
  }

  /** Fetches a file that was stored once (evicted, or lost by storage) as its listing gives it now. */
  private async fetchAgain(project: string, sha256: string, filename: string): Promise<FileLocation> {
    const { producers, logger } = this.deps;
    const source = await this.deps.pages.lookupFile(project, sha256, filename);
    if (!source) throw notListed(project, filename);
    // A completed job kept under the listing's id would otherwise answer "done" without fetching.
    // Best effort: with the queue unreachable, the fetch below falls back to the upstream anyway.
    const forget = (err: unknown) => logger.debug({ err: (err as Error).message }, 'could not clear the completed fetch job');
    const previous = await producers.fetch.getJob(fetchJobId({ ...source, sha256 })).catch(forget);
    if (previous && (await previous.isCompleted().catch(forget))) await previous.remove().catch(forget);
    return this.fetch(project, sha256, source);
  }

  /**
   * The upstream source of a file (for `.metadata` requests): null when no configured upstream lists
   * it under this name; lookup failures (upstream down) throw.
   */
  source(project: string, sha256: string, filename: string): Promise<FileSource | null> {
    return this.deps.pages.lookupFile(project, sha256, filename);
  }

  private fetch(project: string, sha256: string, source: FileSource): Promise<FileLocation> {
    // A verified download is taken from the fetcher's spool at once (the store's fsync saved) by one
    // request alone, or by any number when it is small enough to be read once for all of them (see
    // FileAnswers); a herd on a larger file waits the moment longer for the stored file, read here,
    // rather than each pulling the whole file through the fetcher.
    return this.fetching.run(fetchJobId({ ...source, sha256 }), (requests) => {
      const fromSpool = (size?: number) => requests() === 1 || readOnceWhenVerified(size);
      return this.addAndAwait(project, sha256, source, fromSpool);
    });
  }

  private async addAndAwait(project: string, sha256: string, source: FileSource, fromSpool: (size?: number) => boolean): Promise<FileLocation> {
    const { producers, fetchWaitMs, logger } = this.deps;
    let jobId: string;
    try {
      const added = producers.addFetch({
        protocol: this.deps.protocol,
        sha256,
        project,
        filename: source.filename,
        url: source.url,
        upstream: source.upstream,
        ...(source.digest ? { digest: source.digest } : {}),
      });
      const job = await within(added, ADD_MS, 'fetch queue not reachable', this.deps.logger);
      jobId = job.id!;
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'queue unavailable; streaming the file from upstream');
      return { kind: 'upstream', source };
    }
    const location = await this.await(jobId, source, fetchWaitMs, { streaming: true, verifiedFromSpool: fromSpool });
    return location ?? { kind: 'upstream', source };
  }

  /**
   * Where a download that was being followed can be read from again after the fetcher serving it
   * went away (shut down and handed the job back, or died): stored by now, or followed again from
   * the fetcher that took the job over. Null when none did within `waitMs`.
   */
  resume(location: Extract<FileLocation, { kind: 'inflight' }>, waitMs: number): Promise<FileLocation | null> {
    // The job's progress may still name the stream that just broke (its owner died holding it).
    return this.await(location.jobId, location.source, waitMs, { streaming: true, except: location.url });
  }

  /**
   * Waits, up to ORCHARD_FETCH_WAIT_MS, until a download in progress is stored: for what only a
   * stored file can answer (a byte range, a wheel's METADATA). Null when it is not stored by then.
   */
  async untilStored(location: Extract<FileLocation, { kind: 'inflight' }>): Promise<{ kind: 'stored' } | null> {
    const stored = await this.await(location.jobId, location.source, this.deps.fetchWaitMs, { streaming: false });
    return stored?.kind === 'stored' ? { kind: 'stored' } : null;
  }

  private async await(jobId: string, source: FileSource, waitMs: number, accept: StreamingAccepted = { streaming: true }): Promise<FileLocation | null> {
    const { fetchEvents, producers } = this.deps;
    const outcome = await waitForJob(fetchEvents, producers.fetch, jobId, waitMs, accept, this.deps.logger);
    switch (outcome.kind) {
      case 'completed':
        return { kind: 'stored' };
      case 'streaming':
        return { kind: 'inflight', jobId, url: outcome.url, size: outcome.size, ...(outcome.verified ? { verified: true } : {}), source };
      case 'timeout':
        return null;
      case 'failed':
        throw new HttpError(502, 'fetch_failed', `could not fetch ${source.filename}: ${oneLine(outcome.reason)}`);
    }
  }
}

/**
 * Whether a download in progress answers the wait, which stream (one that broke) does not, and
 * whether a verified download is taken from the fetcher's spool at once (default) or, while the
 * store commits it, only after {@link STREAM_AFTER_MS}.
 */
type StreamingAccepted = { streaming: false } | { streaming: true; except?: string; verifiedFromSpool?: (size?: number) => boolean };

type JobOutcome = { kind: 'completed' } | { kind: 'streaming'; url: string; size?: number; verified?: boolean } | { kind: 'failed'; reason: string } | { kind: 'timeout' };

/**
 * How long a request waits, once its download is streaming, for the file to be stored before it
 * follows the download instead. Most files take less: they are then served whole and verified (from
 * the fetcher as soon as the sha256 matched, or from storage), and a failed download is a clear 502
 * rather than a cut connection; a long download's clients get its first bytes this soon after the
 * fetcher.
 */
const STREAM_AFTER_MS = 500;

/**
 * Waits up to `ms` for a fetch job to be stored, to fail, or (with `streaming`) to have streamed for
 * {@link STREAM_AFTER_MS}. Unlike BullMQ's `waitUntilFinished`, Redis trouble while waiting never
 * rejects (nor escapes as an unhandled rejection): the deadline decides, and the request streams
 * from upstream instead.
 * Why not `awaitSharedJob` (libs/queue, over `waitUntilFinished`) like page fills: a file request acts on progress events (stored, streaming).
 */
function waitForJob(events: QueueEvents, queue: Queue, jobId: string, ms: number, accept: StreamingAccepted, logger: Logger): Promise<JobOutcome> {
  if (ms <= 0) return Promise.resolve({ kind: 'timeout' });
  // Per-job events (`completed:<id>`) are emitted but not in BullMQ's typed listener map.
  const emitter = events as unknown as EventEmitter;
  return new Promise((resolve) => {
    const completedEvent = `completed:${jobId}`;
    const failedEvent = `failed:${jobId}`;
    const progressEvent = `progress:${jobId}`;
    let follow: JobOutcome | undefined;
    let streamTimer: NodeJS.Timeout | undefined;
    const finish = (outcome: JobOutcome) => {
      clearTimeout(timer);
      clearTimeout(streamTimer);
      clearInterval(recheck);
      emitter.off(completedEvent, onCompleted);
      emitter.off(failedEvent, onFailed);
      emitter.off(progressEvent, onProgress);
      resolve(outcome);
    };
    const onCompleted = () => finish({ kind: 'completed' });
    const onFailed = (args: { failedReason?: string }) => finish({ kind: 'failed', reason: args.failedReason ?? 'the fetch failed' });
    // Verified and stored: the job's remaining bookkeeping (PostgreSQL, extraction) need not be
    // awaited. Streaming: the fetcher serves the bytes as they arrive.
    const onProgress = (args: { data?: unknown }) => {
      if (isFetchStored(args.data)) onCompleted();
      else if (accept.streaming && isFetchStreaming(args.data) && args.data.streaming !== accept.except) {
        // A new owner's stream (a job handed over) replaces the one being waited on.
        follow = { kind: 'streaming', url: args.data.streaming, size: args.data.size, ...(args.data.verified ? { verified: true } : {}) };
        // Whole and verified: following it now beats waiting for the store's fsync.
        if (args.data.verified && (accept.verifiedFromSpool?.(args.data.size) ?? true)) finish(follow);
        else streamTimer ??= setTimeout(() => finish(follow!), STREAM_AFTER_MS);
      }
    };
    const timer = setTimeout(() => finish(follow ?? { kind: 'timeout' }), ms);
    const recheck = setInterval(() => void checkLogged(), RECHECK_MS);
    emitter.on(completedEvent, onCompleted);
    emitter.on(failedEvent, onFailed);
    emitter.on(progressEvent, onProgress);
    // The job may have finished before the listeners were in place (or long ago: a file whose job
    // completed is in storage, but one that failed for good stays failed for a minute). Events can
    // also be lost (the events connection reconnecting, a Redis failover): the state is read again
    // every RECHECK_MS, so a lost event costs a moment, not the whole wait and a second download.
    const check = async () => {
      await events.waitUntilReady();
      const job = await queue.getJob(jobId);
      const state = job ? await job.getState() : undefined;
      if (state === 'completed' || (state === 'active' && isFetchStored(job?.progress))) onCompleted();
      else if (state === 'active' && isFetchStreaming(job?.progress)) onProgress({ data: job.progress });
      else if (state === 'failed') onFailed({ failedReason: job?.failedReason });
    };
    const checkLogged = () =>
      check().catch((err: unknown) => {
        // Redis trouble: the deadline decides (see above).
        logger.debug({ jobId, err: errorReason(err) }, "could not read a fetch job's state while waiting for it");
      });
    void checkLogged();
  });
}

/** How often a wait reads its job's state again, in case an event was lost. */
const RECHECK_MS = 1_000;

/** The 404 for a file no configured upstream lists under this name. */
export function notListed(project: string, filename: string): HttpError {
  return notFound(`${filename} is not listed for ${project} by any configured upstream`);
}

function oneLine(message: string): string {
  return message.split('\n')[0]!.slice(0, 300);
}
