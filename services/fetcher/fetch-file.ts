import { pipeline } from 'node:stream';
import type { ArtifactCache } from '../../libs/cache/index.js';
import type { UpstreamConfig } from '../../libs/config/index.js';
import { isDatabaseUnavailable, type ArtifactRepository } from '../../libs/db/index.js';
import { UpstreamError, statusError, type UpstreamClient } from '../../libs/http/index.js';
import { errorReason, safeUrl, type Logger } from '../../libs/log/index.js';
import type { Metrics } from '../../libs/metrics/index.js';
import { UnrecoverableError, type FetchJob, type FetchResult, type FetchStored, type FetchStreaming, type Producers } from '../../libs/queue/index.js';
import { HashMismatchError, SizeLimitError, blobKey, type BlobStore, type VerifiedDigest, listedFileDigest } from '../../libs/storage/index.js';
import type { InflightDownloads } from './inflight-downloads.js';

/** What a fetch job tells waiting clients while it runs (BullMQ job progress). */
export interface FetchProgress {
  jobId: string;
  report: (progress: FetchStored | FetchStreaming) => Promise<void>;
}

export interface FetchFileDeps {
  store: BlobStore;
  /** Downloads readable while they run (the tee to waiting clients). */
  inflight?: InflightDownloads;
  http: UpstreamClient;
  /** A protocol's upstreams (a job's upstream is looked up among its protocol's). */
  upstreams: (protocol: string) => Promise<UpstreamConfig[]>;
  artifacts: ArtifactRepository;
  artifactCache: ArtifactCache;
  producers: Producers;
  maxFileBytes: number;
  /** Told of each file downloaded into storage (the storage quota checks its usage then). */
  onDownloaded?: () => void;
  /**
   * Told of a download of a known size as it starts (the storage quota makes room for it); the
   * returned function is called once the file is recorded as stored, or the download failed.
   */
  onDownloadStarting?: (sha256: string, id: string, size: number) => Promise<() => Promise<void>>;
  metrics: Metrics;
  logger: Logger;
}

/**
 * The `fetch` job: stream the file from its upstream into storage, hashing as it goes; the object
 * appears only when the sha256 matches. Permanent failures (hash mismatch, 404, too large, unknown
 * upstream) end the job at once with the reason; network trouble and 5xx are retried with backoff.
 */
export function createFetchHandler(deps: FetchFileDeps) {
  return async (job: FetchJob, signal?: AbortSignal, progress?: FetchProgress): Promise<FetchResult> => {
    const { store, logger } = deps;
    const key = blobKey(job.sha256);
    let size = (await store.stat(key))?.size;
    const downloaded = size === undefined;
    // Each ends the room the storage quota made for this download: once the file counts as stored.
    const arrivals: Array<() => Promise<void>> = [];
    try {
      if (size === undefined) {
        const upstream = (await deps.upstreams(job.protocol)).find((u) => u.name === job.upstream);
        // Retried, not failed for good: an upstream just added through the admin API reaches this
        // process's registry up to a check interval after the gateway that listed the file.
        if (!upstream) throw new Error(`upstream ${job.upstream} is not configured`);
        size = await download(deps, upstream, job, key, signal, progress, arrivals);
        logger.info({ protocol: job.protocol, sha256: job.sha256, filename: job.filename, upstream: upstream.name, size, url: safeUrl(job.url) }, 'file fetched and verified');
      }
      await recordStored(deps, job, key, size, downloaded, signal, progress);
    } finally {
      for (const arrived of arrivals) await arrived().catch((err: unknown) => logger.debug({ sha256: job.sha256, err: errorReason(err) }, "could not end a download's room"));
    }
    if (downloaded) deps.onDownloaded?.();
    return { sha256: job.sha256, size };
  };
}

/** Everything after the bytes are stored: waiting clients told, PostgreSQL, the artifact record, extraction. */
async function recordStored(deps: FetchFileDeps, job: FetchJob, key: string, size: number, downloaded: boolean, signal?: AbortSignal, progress?: FetchProgress): Promise<void> {
  const { logger } = deps;
  // Waiting clients are served from here on; the bookkeeping below does not hold them up.
  await progress?.report({ stored: true, size }).catch((err: unknown) => logger.debug({ err: (err as Error).message }, 'could not report the stored file'));
  const fetched = {
    sha256: job.sha256,
    size,
    filename: job.filename,
    project: job.project,
    protocol: job.protocol,
    storageKey: key,
    url: job.url,
    upstream: job.upstream,
    downloaded,
  };
  const { artifact } = await whileDatabaseIsDown(() => deps.artifacts.recordFetched(fetched), logger, job.sha256, signal);
  // A file fetched again (storage lost it) keeps the metadata extracted from it before: the
  // extract job of its sha256 is not run twice, and pages keep advertising that digest.
  const extracted = artifact.metadataSha256 ? { metadataSha256: artifact.metadataSha256 } : {};
  await deps.artifactCache
    .set(job.protocol, job.sha256, { size, filename: job.filename, ...extracted })
    .catch((err: unknown) => logger.debug({ sha256: job.sha256, err: (err as Error).message }, 'could not cache the artifact record'));
  await deps.producers.addExtract({ protocol: job.protocol, sha256: job.sha256, project: job.project, filename: job.filename }, downloaded && artifact.fetchCount > 1);
  deps.metrics.cacheLookups.inc({ category: 'artifact', result: 'filled' });
}

async function download(
  deps: FetchFileDeps,
  upstream: UpstreamConfig,
  job: FetchJob,
  key: string,
  signal: AbortSignal | undefined,
  progress: FetchProgress | undefined,
  arrivals: Array<() => Promise<void>>,
): Promise<number> {
  const { metrics } = deps;
  const timer = metrics.upstreamDuration.startTimer({ upstream: upstream.name, kind: 'file' });
  let outcome = 'error';
  try {
    const response = await deps.http.get(upstream, job.url, { headers: { 'accept-encoding': 'identity' }, signal });
    timer();
    if (response.status !== 200) {
      response.body.resume();
      outcome = response.status >= 500 ? 'server_error' : 'client_error';
      const error = statusError(upstream, response.url, response.status, job.filename);
      throw error.transient ? error : new UnrecoverableError(error.message);
    }
    const encoding = response.headers['content-encoding'];
    if (encoding && encoding !== 'identity') {
      response.body.resume();
      throw new UnrecoverableError(`upstream ${upstream.name} sent ${job.filename} with content-encoding ${String(encoding)}`);
    }
    const length = Number(response.headers['content-length']);
    const size = Number.isSafeInteger(length) && length >= 0 ? length : undefined;
    if (size !== undefined && size > deps.maxFileBytes) {
      // Not drained: a body announced as too large may be gigabytes long.
      response.body.destroy();
      throw new SizeLimitError(deps.maxFileBytes);
    }
    if (size !== undefined && deps.onDownloadStarting) {
      const id = progress?.jobId ?? job.sha256;
      const arrived = await deps.onDownloadStarting(job.sha256, id, size).catch((err: unknown) => {
        deps.logger.debug({ sha256: job.sha256, err: errorReason(err) }, 'could not announce a download to the storage quota');
        return undefined;
      });
      if (arrived) arrivals.push(arrived);
    }
    // Waiting clients follow the bytes as they arrive (one upstream download however long it takes).
    const spool = deps.inflight && progress ? deps.inflight.begin(progress.jobId, size, (stream) => announceStream(progress, stream, deps.logger)) : undefined;
    // Errors reach store.put through the tee (pipeline destroys it with the body's error).
    const body = spool
      ? pipeline(response.body, spool.tee, (err) => {
          if (err) deps.logger.debug({ sha256: job.sha256, err: errorReason(err) }, 'download tee ended with an error');
        })
      : response.body;
    let result;
    try {
      result = await deps.store.put(key, body, {
        expected: listedFileDigest(job.sha256, job.digest),
        maxBytes: deps.maxFileBytes,
        contentType: 'application/octet-stream',
        signal,
        ...(spool ? { onVerified: (digest: VerifiedDigest) => spool.verified(digest.size) } : {}),
      });
    } finally {
      spool?.settle(result !== undefined);
    }
    metrics.bytesFetched.inc({ upstream: upstream.name }, result.size);
    outcome = 'ok';
    return result.size;
  } catch (err) {
    if (err instanceof HashMismatchError) {
      outcome = 'hash_mismatch';
      metrics.hashMismatches.inc({ upstream: upstream.name });
      // The actual hash stays in the log: shown to a client it would reveal what answered at the URL.
      const algorithm = job.digest?.algorithm ?? 'sha256';
      deps.logger.warn(
        { protocol: job.protocol, sha256: job.sha256, algorithm, actual: err.actual, filename: job.filename, upstream: upstream.name },
        `file does not match its published ${algorithm}`,
      );
      throw new UnrecoverableError(`${job.filename} from upstream ${upstream.name} does not match its published ${algorithm}; not stored`);
    }
    if (err instanceof SizeLimitError) throw new UnrecoverableError(`${job.filename} is larger than ORCHARD_MAX_FILE_BYTES (${err.limit})`);
    // A denied address or a broken redirect will not change by retrying.
    if (err instanceof UpstreamError && !err.transient) {
      if (err.failure === 'denied')
        deps.logger.warn(
          { protocol: job.protocol, filename: job.filename, upstream: upstream.name, url: safeUrl(job.url), reason: (err.cause as Error | undefined)?.message },
          'file URL refused',
        );
      throw new UnrecoverableError(err.message);
    }
    throw err;
  } finally {
    metrics.upstreamRequests.inc({ upstream: upstream.name, kind: 'file', outcome });
  }
}

/** Tells waiting clients where to follow the download (job progress); they wait for storage if it is lost. */
function announceStream(progress: FetchProgress, stream: FetchStreaming, logger: Logger): void {
  void progress.report(stream).catch((err: unknown) => logger.debug({ err: (err as Error).message }, 'could not report the download'));
}

/** Longest a fetched, stored file waits for PostgreSQL to come back before its job fails as usual. */
const DATABASE_WAIT_MS = 5 * 60_000;

/**
 * Runs `write`, retrying while PostgreSQL is unreachable (restart, failover) for up to
 * {@link DATABASE_WAIT_MS}. The job's own retries (five attempts over ~15 s) are too short for a
 * database restart, and once they run out the stored file would never be recorded: later requests
 * find it in storage and never enqueue it again.
 */
async function whileDatabaseIsDown<T>(write: () => Promise<T>, logger: Logger, sha256: string, signal?: AbortSignal): Promise<T> {
  const deadline = Date.now() + DATABASE_WAIT_MS;
  for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
    try {
      return await write();
    } catch (err) {
      if (!isDatabaseUnavailable(err) || Date.now() + delay > deadline || signal?.aborted) throw err;
      logger.warn({ sha256, retryInMs: delay, reason: errorReason(err) }, 'database unavailable; the verified file waits to be recorded');
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
