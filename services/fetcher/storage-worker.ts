import type { Worker } from 'bullmq';
import type { RedisClient } from '../../libs/redis/index.js';
import { ArtifactCache, invalidationChannel, type CacheKeys } from '../../libs/cache/index.js';
import type { Settings } from '../../libs/config/index.js';
import type { StorageRepository } from '../../libs/db/index.js';
import { errorReason, type Logger } from '../../libs/log/index.js';
import type { Metrics } from '../../libs/metrics/index.js';
import type { ProtocolRegistry } from '../../libs/protocol/index.js';
import { IncomingDownloads, createStorageMetrics, forgetEvicted, reportStorageJobError, runStorageJob, waitForRoom } from '../../libs/quota/index.js';
import { createWorker, type Producers, type WorkerHooks } from '../../libs/queue/index.js';
import type { BlobStore } from '../../libs/storage/index.js';

export interface StorageWorkerDeps {
  settings: Settings;
  storage: StorageRepository;
  store: BlobStore;
  protocols: ProtocolRegistry;
  upstreamNames: () => Promise<string[]>;
  /** The cache Redis (artifact records, invalidations). */
  redis: RedisClient;
  keys: CacheKeys;
  producers: Producers;
  metrics: Metrics;
  worker: { connection: RedisClient; prefix: string; hooks: WorkerHooks; logger: Logger; stalledIntervalMs: number };
  logger: Logger;
}

/** The longest a download waits for room under the quota (see waitForRoom). */
const MAX_ROOM_WAIT_MS = 5_000;

/** The id of the `storage` queue's job scheduler (one per queue prefix, shared by every fetcher). */
const SCHEDULER_ID = 'storage';

/**
 * The fetcher's side of the storage lifecycle: a worker for the `storage` queue (one run at a time
 * across every fetcher: the queue's global concurrency is 1), its scheduler every
 * ORCHARD_STORAGE_GC_INTERVAL_S, and, when a quota is set, `downloadStarting` and `afterDownload`
 * for the fetch handler: a download counts as stored from its start and starts a run, so room is
 * made while it arrives, and another run once it is stored.
 */
export function startStorageWorker(deps: StorageWorkerDeps): {
  worker: Worker;
  afterDownload?: () => void;
  downloadStarting?: (sha256: string, id: string, size: number) => Promise<() => Promise<void>>;
} {
  const { settings, producers, logger } = deps;
  const lifecycle = settings.storageLifecycle;
  const incoming = new IncomingDownloads(deps.redis, deps.keys.key('storage', 'all', 'incoming'));
  const jobDeps = {
    settings: lifecycle,
    storage: deps.storage,
    store: deps.store,
    protocols: deps.protocols,
    upstreamNames: deps.upstreamNames,
    incomingBytes: () => arrivingBytes(incoming, deps.storage),
    forget: forgetEvicted({ artifacts: new ArtifactCache(deps.redis, deps.keys), redis: deps.redis, channel: invalidationChannel(settings.cachePrefix), logger }),
    metrics: createStorageMetrics(deps.metrics.registry),
    followUp: (delayMs: number) => void producers.addStorage({ trigger: 'followup' }, { delayMs }).catch(reportStorageJobError(logger)),
    logger,
  };
  const worker = createWorker('storage', (payload) => runStorageJob(jobDeps, payload.trigger), { ...deps.worker, concurrency: 1 });
  // Idempotent: every fetcher sets the same limit and scheduler at start. With Redis down the
  // first run waits for the next start (or a fetch over the quota); the worker itself reconnects.
  void Promise.all([
    producers.storage.setGlobalConcurrency(1),
    producers.storage.upsertJobScheduler(SCHEDULER_ID, { every: lifecycle.gcIntervalMs }, { name: 'storage', data: { trigger: 'scheduled' } }),
  ]).catch((err: unknown) => logger.warn({ err: errorReason(err) }, 'could not schedule the storage job'));
  if (lifecycle.quotaBytes === undefined) return { worker };
  const report = reportStorageJobError(logger);
  const run = () => void producers.addStorage({ trigger: 'usage' }).catch(report);
  return {
    worker,
    afterDownload: run,
    // Room is made before the file is written: it counts as stored from its start, and waits for
    // the room the other downloads and the stored files leave it.
    downloadStarting: async (sha256, id, size) => {
      const arrived = await incoming.begin(sha256, id, size);
      run();
      await waitForRoom(
        {
          storedBytes: async () => (await deps.storage.usage()).bytes,
          arrivingBytes: jobDeps.incomingBytes,
          requestRun: run,
          quotaBytes: lifecycle.quotaBytes!,
          // Well under the time a file request waits for its fetch to stream before it goes to the
          // upstream itself (a longer wait here would cost a second download).
          maxWaitMs: Math.min(2 * lifecycle.evictionGraceMs, Math.floor(settings.fetchWaitMs / 4), MAX_ROOM_WAIT_MS),
          logger,
        },
        size,
        { sha256 },
      );
      return arrived;
    },
  };
}

/**
 * Bytes of the downloads in progress whose files are not recorded as stored yet: one recorded
 * moments ago, its entry not yet ended, is in the usage already.
 */
async function arrivingBytes(incoming: IncomingDownloads, storage: Pick<StorageRepository, 'storedAmong'>): Promise<number> {
  const entries = await incoming.entries();
  const stored = await storage.storedAmong(entries.map((entry) => entry.sha256));
  return entries.reduce((sum, entry) => sum + (stored.has(entry.sha256) ? 0 : entry.size), 0);
}
