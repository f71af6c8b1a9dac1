import { hostname } from 'node:os';
import { Worker, UnrecoverableError, type Job, type Processor } from 'bullmq';
import type { RedisClient } from '../redis/index.js';
import type { z } from 'zod';
import type { Logger } from '../log/index.js';
import { queues, type QueueName } from './jobs.js';
import { logErrors } from './log-errors.js';

export interface WorkerHooks {
  onCompleted?(queue: QueueName, job: Job, seconds: number): void;
  onFailed?(queue: QueueName, job: Job | undefined, err: Error, final: boolean): void;
}

/**
 * A worker for one declared queue. Payloads are validated on receipt; an invalid payload fails the
 * job at once (it would never become valid by retrying).
 */
export function createWorker<Name extends QueueName, Result>(
  name: Name,
  handler: (payload: z.infer<(typeof queues)[Name]['schema']>, job: Job) => Promise<Result>,
  options: {
    connection: RedisClient;
    prefix: string;
    concurrency: number;
    hooks?: WorkerHooks;
    /** Where the worker's `error` events (connection trouble) are logged. */
    logger: Logger;
    /** Milliseconds between stalled-job checks (default 15 s); a dead worker's lock expires after twice this. */
    stalledIntervalMs?: number;
  },
): Worker {
  const declaration = queues[name];
  const processor: Processor = async (job) => {
    const parsed = declaration.schema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`invalid ${name} payload: ${parsed.error.issues[0]?.message}`);
    return handler(parsed.data as z.infer<(typeof queues)[Name]['schema']>, job);
  };
  const worker = new Worker(declaration.name, processor, {
    connection: options.connection,
    prefix: options.prefix,
    concurrency: options.concurrency,
    // Recorded on each job it takes (`processedBy`): which host and process holds or held a job.
    name: `${hostname()}:${process.pid}`,
    autorun: false,
    // A worker killed mid-job stops renewing its lock; once the lock expires, the next stalled
    // check hands the job to another worker (or to this one restarted).
    stalledInterval: options.stalledIntervalMs ?? 15_000,
    lockDuration: 2 * (options.stalledIntervalMs ?? 15_000),
    maxStalledCount: 3,
  });
  logErrors(worker, `worker ${name}`, options.logger);
  worker.on('completed', (job) => {
    const seconds = job.finishedOn && job.processedOn ? (job.finishedOn - job.processedOn) / 1000 : 0;
    options.hooks?.onCompleted?.(name, job, seconds);
  });
  worker.on('failed', (job, err) => {
    const final = !job || err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
    options.hooks?.onFailed?.(name, job, err, final);
  });
  return worker;
}

export { UnrecoverableError };
