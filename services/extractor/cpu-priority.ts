import { readdirSync } from 'node:fs';
import os from 'node:os';
import { errorReason, type Logger } from '../../libs/log/index.js';

/** What {@link lowerCpuPriority} did, to be logged once the logger exists. */
export type PriorityOutcome = { lowered: false } | { lowered: true; nice: number } | { lowered: false; error: string };

/**
 * Lowers this process's CPU priority to `nice` (never raises it): extraction then yields the CPU to
 * serving when they share a machine, so a cold install is not slowed by the extraction of the files
 * it just fetched. Linux keeps a priority per thread (new threads inherit their creator's), so
 * every thread running now is lowered: V8's and libuv's pool, where archives are inflated. 0 leaves
 * it alone.
 */
export function lowerCpuPriority(nice: number): PriorityOutcome {
  if (nice === 0) return { lowered: false };
  try {
    const target = Math.max(os.getPriority(), nice);
    for (const thread of threads()) os.setPriority(thread, target);
    return { lowered: true, nice: target };
  } catch (err) {
    return { lowered: false, error: errorReason(err) };
  }
}

export function logPriority(outcome: PriorityOutcome, logger: Logger): void {
  if (outcome.lowered) logger.info({ nice: outcome.nice }, 'extractor runs at a lower CPU priority');
  else if ('error' in outcome) logger.warn({ err: outcome.error }, 'could not lower the extractor CPU priority; extraction competes with serving');
}

/** This process's thread ids (Linux); elsewhere 0, the calling thread. */
function threads(): number[] {
  try {
    return readdirSync('/proc/self/task').map(Number);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [0];
    throw err;
  }
}
