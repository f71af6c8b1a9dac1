import type { EventEmitter } from 'node:events';
import type { Queue, QueueEvents } from 'bullmq';
import type { ArtifactCache, FileSource } from '../../libs/cache/index.js';
import type { Logger } from '../../libs/log/index.js';
import type { Metrics } from '../../libs/metrics/index.js';
import type { ProjectPages } from '../../libs/pages/index.js';
import { isFetchStored, type Producers } from '../../libs/queue/index.js';
import { blobKey, type BlobStore } from '../../libs/storage/index.js';
import { HttpError, notFound } from './http-errors.js';

export type FileLocation =
  | { kind: 'stored'; size?: number }
  /** Not cached yet and the fetch job did not finish in time (or the queue is down): stream from upstream. */
  | { kind: 'upstream'; source: FileSource };

export interface FileLocatorDeps {
  protocol: string;
  pages: ProjectPages;
  artifacts: ArtifactCache;
  store: BlobStore;
  producers: Producers;
  fetchEvents: QueueEvents;
  fetchWaitMs: number;
  metrics: Metrics;
  logger: Logger;
}

/**
 * Finds a file's bytes: already in storage, or fetched now by the file's `fetch` job (job id = its
 * sha256, so concurrent misses share one download). A file no configured upstream listed is a 404.
 */
export class FileLocator {
  constructor(private readonly deps: FileLocatorDeps) {
    // Every waiting request listens for its job's events: a burst of misses is many listeners.
    deps.fetchEvents.setMaxListeners(0);
  }

  async locate(project: string, sha256: string, filename: string): Promise<FileLocation> {
    const { artifacts, store, metrics, protocol } = this.deps;
    const cached = await artifacts.get(protocol, sha256).catch(() => null);
    if (cached) {
      // The bytes are known by their sha256 alone; serving them under another name (another
      // version's file name, say) would let a link misname what a client installs.
      if (cached.filename !== filename) throw notListed(project, filename);
      metrics.cacheLookups.inc({ category: 'artifact', result: 'hit' });
      return { kind: 'stored', size: cached.size };
    }
    const stat = await store.stat(blobKey(sha256));
    if (stat) {
      // Without the artifact cache's record of its name, the listing says which name these bytes go
      // by; when the listing cannot be read (upstream down, no cached page), the stored bytes serve.
      const listed = await this.deps.pages.lookupFile(project, sha256).catch(() => undefined);
      if (listed !== undefined && listed?.filename !== filename) throw notListed(project, filename);
      metrics.cacheLookups.inc({ category: 'artifact', result: 'hit' });
      return { kind: 'stored', size: stat.size };
    }
    metrics.cacheLookups.inc({ category: 'artifact', result: 'miss' });
    const source = await this.deps.pages.lookupFile(project, sha256);
    if (!source || source.filename !== filename) throw notListed(project, filename);
    return this.fetch(project, sha256, source);
  }

  /**
   * The caches said the file was stored but the store does not have it (storage wiped, or a new
   * data directory under an old Redis): forget that and fetch it again, like any miss.
   */
  async refetch(project: string, sha256: string, filename: string): Promise<FileLocation> {
    const { artifacts, producers, protocol, logger, store } = this.deps;
    // An unreachable store looks like a missing object; that is a 503, not a reason to fetch again.
    await store.check().catch(() => {
      throw new HttpError(503, 'storage_unavailable', 'storage is unavailable right now; retry shortly', { 'Retry-After': '5' });
    });
    logger.warn({ sha256, filename }, 'a file known as cached is missing from storage; fetching it again');
    await artifacts.delete(protocol, sha256).catch(() => {});
    const source = await this.deps.pages.lookupFile(project, sha256);
    if (!source || source.filename !== filename) throw notListed(project, filename);
    // A completed job kept under the file's id would otherwise answer "done" without fetching.
    const previous = await producers.fetch.getJob(sha256).catch(() => undefined);
    if (previous && (await previous.isCompleted().catch(() => false))) await previous.remove().catch(() => {});
    return this.fetch(project, sha256, source);
  }

  /**
   * The upstream source of a file (for `.metadata` requests): null when no configured upstream lists
   * it; a 404 when it is listed under another name; lookup failures (upstream down) throw.
   */
  async source(project: string, sha256: string, filename: string): Promise<FileSource | null> {
    const source = await this.deps.pages.lookupFile(project, sha256);
    if (source && source.filename !== filename) throw notListed(project, filename);
    return source;
  }

  private async fetch(project: string, sha256: string, source: FileSource): Promise<FileLocation> {
    const { producers, fetchEvents, fetchWaitMs, logger } = this.deps;
    try {
      await producers.addFetch({
        protocol: 'pypi',
        sha256,
        project,
        filename: source.filename,
        url: source.url,
        upstream: source.upstream,
      });
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'queue unavailable; streaming the file from upstream');
      return { kind: 'upstream', source };
    }
    const outcome = await waitForJob(fetchEvents, producers.fetch, sha256, fetchWaitMs);
    switch (outcome.kind) {
      case 'completed':
        return { kind: 'stored' };
      case 'timeout':
        return { kind: 'upstream', source };
      case 'failed':
        throw new HttpError(502, 'fetch_failed', `could not fetch ${source.filename}: ${oneLine(outcome.reason)}`);
    }
  }
}

type JobOutcome = { kind: 'completed' } | { kind: 'failed'; reason: string } | { kind: 'timeout' };

/**
 * Waits up to `ms` for a fetch job to finish. Unlike BullMQ's `waitUntilFinished`, Redis trouble
 * while waiting never rejects (nor escapes as an unhandled rejection): the deadline decides, and the
 * request streams from upstream instead.
 */
function waitForJob(events: QueueEvents, queue: Queue, jobId: string, ms: number): Promise<JobOutcome> {
  if (ms <= 0) return Promise.resolve({ kind: 'timeout' });
  // Per-job events (`completed:<id>`) are emitted but not in BullMQ's typed listener map.
  const emitter = events as unknown as EventEmitter;
  return new Promise((resolve) => {
    const completedEvent = `completed:${jobId}`;
    const failedEvent = `failed:${jobId}`;
    const progressEvent = `progress:${jobId}`;
    const finish = (outcome: JobOutcome) => {
      clearTimeout(timer);
      emitter.off(completedEvent, onCompleted);
      emitter.off(failedEvent, onFailed);
      emitter.off(progressEvent, onProgress);
      resolve(outcome);
    };
    const onCompleted = () => finish({ kind: 'completed' });
    const onFailed = (args: { failedReason?: string }) => finish({ kind: 'failed', reason: args.failedReason ?? 'the fetch failed' });
    // Verified and stored: the job's remaining bookkeeping (PostgreSQL, extraction) need not be awaited.
    const onProgress = (args: { data?: unknown }) => {
      if (isFetchStored(args.data)) onCompleted();
    };
    const timer = setTimeout(() => finish({ kind: 'timeout' }), ms);
    emitter.on(completedEvent, onCompleted);
    emitter.on(failedEvent, onFailed);
    emitter.on(progressEvent, onProgress);
    // The job may have finished before the listeners were in place (or long ago: a file whose job
    // completed is in storage, but one that failed for good stays failed for a minute).
    void (async () => {
      await events.waitUntilReady();
      const job = await queue.getJob(jobId);
      const state = job ? await job.getState() : undefined;
      if (state === 'completed' || (state === 'active' && isFetchStored(job?.progress))) onCompleted();
      else if (state === 'failed') onFailed({ failedReason: job?.failedReason });
    })().catch(() => {});
  });
}

/** The 404 for a file no configured upstream lists under this name. */
export function notListed(project: string, filename: string): HttpError {
  return notFound(`${filename} is not listed for ${project} by any configured upstream`);
}

function oneLine(message: string): string {
  return message.split('\n')[0]!.slice(0, 300);
}
