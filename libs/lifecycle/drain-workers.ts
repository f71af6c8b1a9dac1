import type { Worker } from 'bullmq';
import { errorReason, type Logger } from '../log/index.js';
import type { JobHandback } from './job-handback.js';

export interface DrainOptions {
  /** How long jobs in progress may run on before they are handed back. */
  graceMs: number;
  /** Hands back jobs still running after the grace period; without it they run on until exit. */
  handback?: JobHandback;
  logger: Logger;
}

/**
 * Stops the workers taking new jobs and lets the jobs in progress finish for up to `graceMs`; jobs
 * still running then are handed back to their queues. Resolves when every worker has closed (the
 * caller's shutdown timeout bounds that wait).
 */
export async function drainWorkers(workers: Worker[], options: DrainOptions): Promise<void> {
  const closing = Promise.allSettled(workers.map((w) => w.close())).then((results) => {
    results.forEach((result, i) => {
      if (result.status === 'rejected') options.logger.warn({ queue: workers[i]!.name, err: errorReason(result.reason) }, 'worker did not close cleanly');
    });
  });
  let timer: NodeJS.Timeout | undefined;
  const graceOver = new Promise<'grace-over'>((resolve) => {
    timer = setTimeout(() => resolve('grace-over'), options.graceMs);
  });
  const first = await Promise.race([closing, graceOver]);
  clearTimeout(timer);
  if (first === 'grace-over') {
    options.logger.warn({ graceMs: options.graceMs }, options.handback ? 'jobs still running; handing them back to their queues' : 'jobs still running');
    options.handback?.handBack();
    await closing;
  }
}

/**
 * The part of a shutdown timeout jobs in progress get to finish: the rest (at most 5 s, at least
 * 40 %) is left for handing jobs back and closing connections before the timeout strikes.
 */
export function drainGraceMs(shutdownTimeoutMs: number): number {
  return Math.max(0, Math.round(shutdownTimeoutMs - Math.min(5_000, shutdownTimeoutMs * 0.4)));
}

/**
 * Runs a worker's loop (`worker.run()`), logging at fatal if it ever stops with an error (BullMQ
 * retries Redis trouble itself, so that is a bug or a misconfiguration). The returned promise still
 * rejects: a service that lets it go unhandled dies as before, with the reason in its log first.
 */
export function runWorker(worker: Pick<Worker, 'name' | 'run'>, logger: Logger): Promise<void> {
  return worker.run().catch((err: unknown) => {
    logger.fatal({ queue: worker.name, err: errorReason(err) }, 'worker stopped with an error');
    throw err;
  });
}
