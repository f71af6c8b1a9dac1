import type { ArtifactCache } from '../../libs/cache/index.js';
import type { UpstreamConfig } from '../../libs/config/index.js';
import type { ArtifactRepository } from '../../libs/db/index.js';
import { UpstreamError, type UpstreamClient } from '../../libs/http/index.js';
import { safeUrl, type Logger } from '../../libs/log/index.js';
import type { Metrics } from '../../libs/metrics/index.js';
import { UnrecoverableError, type FetchJob, type FetchResult, type Producers } from '../../libs/queue/index.js';
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
  return async (job: FetchJob, signal?: AbortSignal): Promise<FetchResult> => {
    const { store, metrics, logger } = deps;
    const key = blobKey(job.sha256);
    let size = (await store.stat(key))?.size;
    if (size === undefined) {
      const upstream = (await deps.upstreams()).find((u) => u.name === job.upstream);
      if (!upstream) throw new UnrecoverableError(`upstream ${job.upstream} is not configured`);
      size = await download(deps, upstream, job, key, signal);
      logger.info({ sha256: job.sha256, filename: job.filename, upstream: upstream.name, size, url: safeUrl(job.url) }, 'file fetched and verified');
    }
    await deps.artifacts.recordFetched({
      sha256: job.sha256,
      size,
      filename: job.filename,
      project: job.project,
      protocol: job.protocol,
      storageKey: key,
      url: job.url,
      upstream: job.upstream,
    });
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
    throw err;
  } finally {
    metrics.upstreamRequests.inc({ upstream: upstream.name, kind: 'file', outcome });
  }
}
