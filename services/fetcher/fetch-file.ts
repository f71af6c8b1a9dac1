import type { ArtifactCache } from '../../libs/cache/index.js';
import type { UpstreamConfig } from '../../libs/config/index.js';
import type { ArtifactRepository } from '../../libs/db/index.js';
import { UpstreamError, type UpstreamClient } from '../../libs/http/index.js';
import { safeUrl, type Logger } from '../../libs/log/index.js';
import type { Metrics } from '../../libs/metrics/index.js';
import { UnrecoverableError, type FetchJob, type FetchResult, type FetchStored, type Producers } from '../../libs/queue/index.js';
import { HashMismatchError, SizeLimitError, blobKey, type BlobStore } from '../../libs/storage/index.js';

export interface FetchFileDeps {
  store: BlobStore;
  http: UpstreamClient;
  upstreams: () => Promise<UpstreamConfig[]>;
  artifacts: ArtifactRepository;
  artifactCache: ArtifactCache;
  producers: Producers;
  maxFileBytes: number;
  metrics: Metrics;
  logger: Logger;
}

/**
 * The `fetch` job: stream the file from its upstream into storage, hashing as it goes; the object
 * appears only when the sha256 matches. Permanent failures (hash mismatch, 404, too large, unknown
 * upstream) end the job at once with the reason; network trouble and 5xx are retried with backoff.
 */
export function createFetchHandler(deps: FetchFileDeps) {
  return async (job: FetchJob, signal?: AbortSignal, onStored?: (stored: FetchStored) => Promise<void>): Promise<FetchResult> => {
    const { store, metrics, logger } = deps;
    const key = blobKey(job.sha256);
    let size = (await store.stat(key))?.size;
    if (size === undefined) {
      const upstream = (await deps.upstreams()).find((u) => u.name === job.upstream);
      // Retried, not failed for good: an upstream just added through the admin API reaches this
      // process's registry up to a check interval after the gateway that listed the file.
      if (!upstream) throw new Error(`upstream ${job.upstream} is not configured`);
      size = await download(deps, upstream, job, key, signal);
      logger.info({ sha256: job.sha256, filename: job.filename, upstream: upstream.name, size, url: safeUrl(job.url) }, 'file fetched and verified');
    }
    // Waiting clients are served from here on; the bookkeeping below does not hold them up.
    await onStored?.({ stored: true, size }).catch(() => {});
    const record = {
      sha256: job.sha256,
      size,
      filename: job.filename,
      project: job.project,
      protocol: job.protocol,
      storageKey: key,
      url: job.url,
      upstream: job.upstream,
    };
    await whileDatabaseIsDown(() => deps.artifacts.recordFetched(record), logger, job.sha256, signal);
    await deps.artifactCache.set(job.protocol, job.sha256, { size, filename: job.filename }).catch(() => {});
    await deps.producers.addExtract({ protocol: job.protocol, sha256: job.sha256, project: job.project, filename: job.filename });
    metrics.cacheLookups.inc({ category: 'artifact', result: 'filled' });
    return { sha256: job.sha256, size };
  };
}

async function download(deps: FetchFileDeps, upstream: UpstreamConfig, job: FetchJob, key: string, signal?: AbortSignal): Promise<number> {
  const { metrics } = deps;
  const timer = metrics.upstreamDuration.startTimer({ upstream: upstream.name, kind: 'file' });
  let outcome = 'error';
  try {
    const response = await deps.http.get(upstream, job.url, { headers: { 'accept-encoding': 'identity' }, signal });
    timer();
    if (response.status !== 200) {
      response.body.resume();
      outcome = response.status >= 500 ? 'server_error' : 'client_error';
      const error = new UpstreamError('status', `upstream ${upstream.name} answered ${response.status} for ${job.filename}`, response.status);
      throw error.transient ? error : new UnrecoverableError(error.message);
    }
    const encoding = response.headers['content-encoding'];
    if (encoding && encoding !== 'identity') {
      response.body.resume();
      throw new UnrecoverableError(`upstream ${upstream.name} sent ${job.filename} with content-encoding ${String(encoding)}`);
    }
    const result = await deps.store.put(key, response.body, {
      expectedSha256: job.sha256,
      maxBytes: deps.maxFileBytes,
      contentType: 'application/octet-stream',
      signal,
    });
    metrics.bytesFetched.inc({ upstream: upstream.name }, result.size);
    outcome = 'ok';
    return result.size;
  } catch (err) {
    if (err instanceof HashMismatchError) {
      outcome = 'hash_mismatch';
      metrics.hashMismatches.inc({ upstream: upstream.name });
      throw new UnrecoverableError(`${job.filename} from upstream ${upstream.name} does not match its published sha256 (got ${err.actual}); not stored`);
    }
    if (err instanceof SizeLimitError) throw new UnrecoverableError(`${job.filename} is larger than ORCHARD_MAX_FILE_BYTES (${err.limit})`);
    // A denied address or a broken redirect will not change by retrying.
    if (err instanceof UpstreamError && !err.transient) throw new UnrecoverableError(err.message);
    throw err;
  } finally {
    metrics.upstreamRequests.inc({ upstream: upstream.name, kind: 'file', outcome });
  }
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
      logger.warn({ sha256, retryInMs: delay, reason: (err as Error).message.split('\n')[0] }, 'database unavailable; the verified file waits to be recorded');
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** Connection-level failures (server down, restarting, connection cut), as opposed to a bad query. */
function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^(P1001|P1002|P1017|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|57P0[123]|08\d{3})$/.test(code)) return true;
    if (/Can't reach database server|Connection terminated|connection .*closed|the database system is (starting up|shutting down)|terminating connection|ECONNREFUSED|ECONNRESET/i.test(e.message)) return true;
  }
  return false;
}
