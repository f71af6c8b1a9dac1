import type { CandidateCursor, EvictedRow, EvictionCandidate, StorageRepository, StorageUsage } from '../db/index.js';
import { errorReason, type Logger } from '../log/index.js';
import { blobKey, type BlobStore } from '../storage/index.js';

/** Why a file was evicted: nothing configured lists it any more, or it was the least recently served. */
export type EvictionReason = 'unreferenced' | 'quota';

export interface EvictedFile {
  sha256: string;
  protocol: string;
  project: string;
  filename: string;
  size: number;
  lastUsedAt: Date;
  reason: EvictionReason;
}

export interface EvictionLimits {
  quotaBytes: number;
  lowWaterBytes: number;
  /** Files served or fetched this recently are never taken. */
  graceMs: number;
}

export interface EvictionDeps {
  storage: Pick<StorageRepository, 'usage' | 'candidates' | 'markEvicted'>;
  /** Bytes of downloads in progress, counted as stored (room is made before they land). */
  incomingBytes?: () => Promise<number>;
  isPinned: (file: EvictionCandidate) => boolean;
  /** How files are evicted; without it nothing changes (a dry run lists what would go). */
  apply?: {
    store: Pick<BlobStore, 'delete'>;
    /** Tells the caches the file's bytes are gone (its record, gateways' memos). Must not throw. */
    forget: (file: EvictedRow) => Promise<void>;
  };
  logger: Logger;
}

export interface EvictionOutcome {
  dryRun: boolean;
  usageBefore: StorageUsage;
  /** Bytes of downloads in progress, counted with the usage. */
  incomingBytes: number;
  /** Usage once the evicted files are gone (as planned, in a dry run). */
  usageAfter: StorageUsage;
  evicted: EvictedFile[];
}

const BATCH = 200;

/**
 * Evicts stored files while usage (with the downloads in progress) is over the quota, until it is at
 * the low-water mark: files no
 * configured upstream lists first, then the least recently served; never a pinned file, nor one
 * served or fetched within the grace period (a stream in progress keeps renewing its file). Each file
 * is marked evicted in PostgreSQL (only if still unused: a serve recorded meanwhile wins), forgotten
 * by the caches, then deleted from storage: a request that comes later fetches it again. Without
 * `deps.apply` (a dry run) nothing is changed and the outcome lists what would go.
 */
export async function evictOverQuota(deps: EvictionDeps, limits: EvictionLimits, options: { now?: Date } = {}): Promise<EvictionOutcome> {
  const { apply } = deps;
  const dryRun = apply === undefined;
  const usageBefore = await deps.storage.usage();
  const incomingBytes = (await deps.incomingBytes?.()) ?? 0;
  const outcome: EvictionOutcome = { dryRun, usageBefore, incomingBytes, usageAfter: { ...usageBefore }, evicted: [] };
  // What must fit: what is stored and what is arriving.
  const over = (limit: number) => outcome.usageAfter.bytes + incomingBytes > limit;
  if (!over(limits.quotaBytes)) return outcome;
  const usedBefore = new Date((options.now ?? new Date()).getTime() - limits.graceMs);
  let cursor: CandidateCursor | undefined;
  while (over(limits.lowWaterBytes)) {
    const batch = await deps.storage.candidates(usedBefore, BATCH, cursor);
    // Chosen as a dry run would, then evicted together: one pass takes about one file's time, so
    // files arriving meanwhile find the room made (one by one, a pass on S3 took a file's time each).
    const chosen: EvictionCandidate[] = [];
    let planned = outcome.usageAfter.bytes;
    for (const candidate of batch) {
      cursor = candidate;
      if (deps.isPinned(candidate)) continue;
      chosen.push(candidate);
      planned -= candidate.size;
      if (planned + incomingBytes <= limits.lowWaterBytes) break;
    }
    const taken = apply ? await evictAll(deps.storage, apply, chosen, usedBefore, deps.logger) : chosen;
    for (const candidate of taken) {
      outcome.evicted.push({
        sha256: candidate.sha256,
        protocol: candidate.protocol,
        project: candidate.project,
        filename: candidate.filename,
        size: candidate.size,
        lastUsedAt: candidate.lastUsedAt,
        reason: candidate.refCount === 0 ? 'unreferenced' : 'quota',
      });
      outcome.usageAfter.bytes -= candidate.size;
      outcome.usageAfter.files -= 1;
    }
    // The scan ends with the candidates; a file served meanwhile was kept, so it goes on past the
    // last one chosen while the batch had more.
    if (batch.length === 0 || (batch.length < BATCH && cursor === batch.at(-1))) break;
  }
  if (over(limits.lowWaterBytes)) {
    deps.logger.warn(
      { bytes: outcome.usageAfter.bytes, incomingBytes, lowWaterBytes: limits.lowWaterBytes },
      'storage stays over its low-water mark: the rest is pinned or in use',
    );
  }
  return outcome;
}

/** How many files one pass evicts at once. */
const PARALLEL = 16;

/**
 * Evicts the chosen files, several at a time; a file whose delete failed is left out (evictOne
 * logged it) and the rest go on. Throws only when nothing could be evicted (storage failing).
 * @returns those evicted (not those used meanwhile)
 */
async function evictAll(
  storage: EvictionDeps['storage'],
  apply: NonNullable<EvictionDeps['apply']>,
  chosen: readonly EvictionCandidate[],
  usedBefore: Date,
  logger: Logger,
): Promise<EvictionCandidate[]> {
  const taken: EvictionCandidate[] = [];
  let failure: unknown;
  for (let i = 0; i < chosen.length; i += PARALLEL) {
    const group = chosen.slice(i, i + PARALLEL);
    // Settled, not all-or-nothing: files evicted alongside one that failed are counted (evictOne logged the failure).
    const settled = await Promise.allSettled(group.map((candidate) => evictOne(storage, apply, candidate, usedBefore, logger)));
    settled.forEach((result, j) => {
      if (result.status === 'fulfilled' && result.value) taken.push(group[j]!);
      else if (result.status === 'rejected') failure ??= result.reason;
    });
  }
  if (failure !== undefined && taken.length === 0) throw failure;
  return taken;
}

async function evictOne(
  storage: EvictionDeps['storage'],
  apply: NonNullable<EvictionDeps['apply']>,
  candidate: EvictionCandidate,
  usedBefore: Date,
  logger: Logger,
): Promise<boolean> {
  const row = await storage.markEvicted(candidate.sha256, usedBefore);
  if (!row) return false;
  await apply.forget(row);
  try {
    await apply.store.delete(blobKey(row.sha256));
  } catch (err) {
    // Marked but still stored: a request for it fetches it again, which finds the bytes and clears the mark.
    logger.error({ sha256: row.sha256, err: errorReason(err) }, 'could not delete an evicted file from storage');
    throw err;
  }
  return true;
}
