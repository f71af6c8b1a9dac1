import { setTimeout as sleep } from 'node:timers/promises';
import { errorReason, type Logger } from '../log/index.js';

export interface RoomDeps {
  /** Bytes stored now (recorded and not evicted). */
  storedBytes: () => Promise<number>;
  /** Bytes of downloads in progress not stored yet, this one included. */
  arrivingBytes: () => Promise<number>;
  /** Asks for a run of the storage job (one waits at a time). */
  requestRun: () => void;
  quotaBytes: number;
  /** The longest a download waits; past it, it goes ahead (and the wait is logged). */
  maxWaitMs: number;
  pollMs?: number;
  logger: Logger;
}

/**
 * Holds a download of `size` bytes (already counted as arriving) until what is stored and what the
 * other downloads bring fits under the quota, asking for storage runs meanwhile; so the store holds
 * at most the quota plus one file, however many downloads start at once. Files used within the grace
 * period are never taken: when they fill the quota the download goes ahead after `maxWaitMs`.
 * @returns the milliseconds waited
 */
export async function waitForRoom(deps: RoomDeps, size: number, what: { sha256: string }): Promise<number> {
  const started = Date.now();
  for (;;) {
    let others: number;
    try {
      others = (await deps.storedBytes()) + (await deps.arrivingBytes()) - size;
    } catch (err) {
      // Usage unknown (PostgreSQL or Redis trouble): a download is never held back on a guess.
      deps.logger.warn({ sha256: what.sha256, err: errorReason(err) }, 'storage usage unknown; the download goes ahead');
      return Date.now() - started;
    }
    if (others <= deps.quotaBytes) return Date.now() - started;
    const waited = Date.now() - started;
    if (waited >= deps.maxWaitMs) {
      deps.logger.warn(
        { sha256: what.sha256, size, waitedMs: waited, bytes: others, quota: deps.quotaBytes },
        'no room under the storage quota (files in use fill it); the download goes ahead',
      );
      return waited;
    }
    deps.requestRun();
    await sleep(deps.pollMs ?? 50);
  }
}
