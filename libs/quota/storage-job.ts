import type { StorageLifecycleSettings } from '../config/index.js';
import type { StorageRepository } from '../db/index.js';
import { errorReason, type Logger } from '../log/index.js';
import type { ProtocolRegistry } from '../protocol/index.js';
import type { StorageJob } from '../queue/index.js';
import type { BlobStore } from '../storage/index.js';
import { evictOverQuota, type EvictionDeps, type EvictionOutcome } from './eviction.js';
import { pinMatcher } from './pins.js';
import type { StorageMetrics } from './storage-metrics.js';

export interface StorageJobDeps {
  settings: StorageLifecycleSettings;
  storage: StorageRepository;
  store: BlobStore;
  protocols: ProtocolRegistry;
  /** Names of the upstreams configured now (what counts as a reference). */
  upstreamNames: () => Promise<string[]>;
  forget: NonNullable<EvictionDeps['apply']>['forget'];
  incomingBytes: NonNullable<EvictionDeps['incomingBytes']>;
  /** Starts another run after `delayMs` (one waits at a time). */
  followUp: (delayMs: number) => void;
  metrics: StorageMetrics;
  logger: Logger;
}

/** What one run did (the job's return value, and what `npm run gc` prints). */
export interface StorageJobResult {
  trigger: StorageJob['trigger'];
  orphans?: { removed: number; bytes: number; unsupported?: string };
  referencesRecounted?: number;
  eviction?: Omit<EvictionOutcome, 'evicted' | 'incomingBytes'> & { evictedFiles: number; evictedBytes: number };
}

/**
 * One run of the `storage` job. Scheduled and manual runs remove orphaned writes and recount
 * references (runs started by downloads are kept cheap); every run with a quota evicts past it, and
 * one that leaves usage over the quota (what it could take was still in its grace period) starts
 * another a quarter of the grace period later; the storage gauges are set from the usage it ends with.
 */
export async function runStorageJob(deps: StorageJobDeps, trigger: StorageJob['trigger']): Promise<StorageJobResult> {
  const { settings, metrics, logger } = deps;
  const result: StorageJobResult = { trigger };
  if (trigger === 'scheduled' || trigger === 'manual') {
    result.orphans = await deps.store.removeOrphans(new Date(Date.now() - settings.orphanAgeMs));
    metrics.orphans.inc(result.orphans.removed);
    if (result.orphans.unsupported) logger.debug({ reason: result.orphans.unsupported }, 'orphaned uploads not cleaned: set a bucket lifecycle rule instead');
    else if (result.orphans.removed > 0) logger.info(result.orphans, 'removed unfinished writes');
    result.referencesRecounted = await deps.storage.recountReferences(await deps.upstreamNames());
  }
  metrics.quotaBytes.set(settings.quotaBytes ?? 0);
  if (settings.quotaBytes === undefined || settings.lowWaterBytes === undefined) {
    const usage = await deps.storage.usage();
    setUsage(metrics, usage);
    return result;
  }
  const evictionDeps = {
    storage: deps.storage,
    incomingBytes: deps.incomingBytes,
    isPinned: pinMatcher(await deps.storage.pins(), deps.protocols),
    apply: { store: deps.store, forget: deps.forget },
    logger,
  };
  const limits = { quotaBytes: settings.quotaBytes, lowWaterBytes: settings.lowWaterBytes, graceMs: settings.evictionGraceMs };
  // One pass: a download starting or landing while it runs queues the next run (see Producers.addStorage).
  const outcome = await evictOverQuota(evictionDeps, limits);
  const { evicted } = outcome;
  for (const file of evicted) metrics.evictions.inc({ reason: file.reason });
  if (outcome.usageAfter.bytes + outcome.incomingBytes > settings.quotaBytes) deps.followUp(Math.max(100, Math.floor(settings.evictionGraceMs / 4)));
  setUsage(metrics, outcome.usageAfter);
  const evictedBytes = evicted.reduce((sum, file) => sum + file.size, 0);
  if (evicted.length > 0) {
    logger.info({ files: evicted.length, bytes: evictedBytes, usage: outcome.usageAfter.bytes, quota: settings.quotaBytes }, 'evicted files over the storage quota');
  }
  result.eviction = { dryRun: false, usageBefore: outcome.usageBefore, usageAfter: outcome.usageAfter, evictedFiles: evicted.length, evictedBytes };
  return result;
}

function setUsage(metrics: StorageMetrics, usage: { bytes: number; files: number }): void {
  metrics.bytes.set(usage.bytes);
  metrics.files.set(usage.files);
}

/** Logs instead of throwing: for callers that start a run in passing (a fetch that stored a file). */
export function reportStorageJobError(logger: Logger): (err: unknown) => void {
  return (err) => logger.warn({ err: errorReason(err) }, 'could not queue a storage job run');
}
