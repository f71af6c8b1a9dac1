import { WaitingError, type Job } from 'bullmq';
import { withLogContext, type Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';

/**
 * Hands jobs in progress back to their queue when a worker process must stop before they finish.
 *
 * A wrapped handler receives an AbortSignal. {@link JobHandback.handBack} aborts it; a job cut off
 * that way is moved from `active` back to the front of `waiting` with its lock released, so another
 * worker (or this one after a restart) takes it at once. The attempt is not counted: shutting down
 * is not the job's fault. Without this, a job cut off by the process exiting would sit in `active`
 * until its lock expired and BullMQ's stalled-job check returned it (about 30-45 s).
 */
export class JobHandback {
  private readonly controller = new AbortController();

  constructor(private readonly deps: { logger: Logger; metrics: Metrics }) {}

  /** Aborted when jobs in progress are to be handed back. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Whether {@link handBack} was called. */
  get handingBack(): boolean {
    return this.controller.signal.aborted;
  }

  /**
   * Wraps a worker's job handler so that its job can be handed back (see the class comment). Log
   * lines the handler writes carry the queue and job id.
   */
  wrap<Payload, Result>(queue: string, handler: (payload: Payload, job: Job, signal: AbortSignal) => Promise<Result>): (payload: Payload, job: Job) => Promise<Result> {
    return async (payload, job) => {
      try {
        return await withLogContext({ queue, jobId: job.id }, () => handler(payload, job, this.controller.signal));
      } catch (err) {
        if (!this.controller.signal.aborted) throw err;
        try {
          await job.moveToWait(job.token);
        } catch (moveError) {
          // Could not hand it back (Redis gone?): fail the attempt normally; it is retried.
          this.deps.logger.warn({ queue, jobId: job.id, err: (moveError as Error).message }, 'could not hand a job back');
          throw err;
        }
        this.deps.metrics.jobs.inc({ queue, outcome: 'handed_back' });
        this.deps.logger.info({ queue, jobId: job.id }, 'job handed back to its queue');
        // Tells BullMQ the job was moved already: it neither completes nor fails it.
        throw new WaitingError();
      }
    };
  }

  /** Aborts every wrapped handler still running; their jobs go back to their queues. */
  handBack(): void {
    this.controller.abort(new Error('worker shutting down; job handed back'));
  }
}
