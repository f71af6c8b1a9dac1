import type { Job, QueueEvents } from 'bullmq';
import { errorReason, type Logger } from '../log/index.js';

/** How a caller's wait for a shared job ended. */
export type SharedJobOutcome<Result> =
  /** The job finished and returned this (from its `completed` event, or at once if already done). */
  | { kind: 'finished'; value: Result }
  /** No worker took the job within the pickup bound: the caller should do the work itself. */
  | { kind: 'unclaimed' }
  /** The job failed, vanished, or did not finish within the wait bound: the caller should do the work itself. */
  | { kind: 'lost'; reason: string };

export interface SharedJobBounds {
  /** How long the job may wait for a worker before the caller gives up on it. */
  pickupMs: number;
  /** How long the caller waits for the job to finish in all. */
  waitMs: number;
}

/**
 * Waits for a job added (or joined: same deterministic id) by the caller, with BullMQ's
 * `Job.waitUntilFinished`: one shared primitive for work any process may pick up, no polling. If no
 * worker has taken the job after `pickupMs` (one state read at that moment), the caller is told so
 * and does the work itself, so a stuck queue never blocks it. The job is then removed (a queue no
 * worker serves does not fill up); if a worker took it meanwhile, it runs and finds the work done.
 * `ranHere` resolves when this process's own worker ran the job: the caller then goes on without
 * waiting for the event to come back through Redis. Never rejects.
 */
export function awaitSharedJob<Result>(
  job: Job<unknown, Result>,
  events: QueueEvents,
  bounds: SharedJobBounds,
  logger: Logger,
  ranHere?: Promise<Result>,
): Promise<SharedJobOutcome<Result>> {
  const finished = Promise.race([job.waitUntilFinished(events, bounds.waitMs) as Promise<Result>, ...(ranHere ? [ranHere] : [])]).then(
    (value: Result): SharedJobOutcome<Result> => ({ kind: 'finished', value }),
    (err: unknown): SharedJobOutcome<Result> => ({ kind: 'lost', reason: err instanceof Error ? err.message : String(err) }),
  );
  let timer: NodeJS.Timeout | undefined;
  const pickup = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, bounds.pickupMs);
  }).then(async (): Promise<SharedJobOutcome<Result>> => {
    const state = await job.getState().catch((err: unknown) => {
      logger.debug({ jobId: job.id, err: errorReason(err) }, "could not read a shared job's state; doing its work here");
      return 'unknown';
    });
    if (state === 'active' || state === 'completed' || state === 'failed') return finished;
    // Nobody may ever serve this queue (paused, no workers): the caller's own work replaces the job.
    await job.remove().catch((err: unknown) => logger.debug({ jobId: job.id, err: errorReason(err) }, 'could not remove an unclaimed shared job'));
    return { kind: 'unclaimed' };
  });
  return Promise.race([finished, pickup]).finally(() => clearTimeout(timer));
}

/**
 * `promise`, or a rejection after `ms` (a late rejection of `promise` is logged at debug). For
 * adding a job or reading queue counts: BullMQ waits for a connection that was never ready (Redis
 * down since the process started) instead of failing, and a request must fall back (a scrape
 * answer) rather than hang.
 */
export function within<T>(promise: Promise<T>, ms: number, message: string, logger: Pick<Logger, 'debug'>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  promise.catch((err: unknown) => logger.debug({ err: errorReason(err) }, `${message} (late failure)`));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
