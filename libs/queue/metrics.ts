import type { Job, Queue } from 'bullmq';
import { within } from './shared-job.js';
import { errorReason, type Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import type { WorkerHooks } from './workers.js';

/**
 * Job outcome counters and duration histograms (`orchard_jobs_total`,
 * `orchard_job_duration_seconds`, by queue and outcome), plus a log line for every failure.
 */
export function jobMetricsHooks(metrics: Metrics, logger: Logger): WorkerHooks {
  return {
    onCompleted(queue, _job, seconds) {
      metrics.jobs.inc({ queue, outcome: 'completed' });
      metrics.jobDuration.observe({ queue, outcome: 'completed' }, seconds);
    },
    onFailed(queue, job, err, final) {
      const outcome = final ? 'failed' : 'retried';
      metrics.jobs.inc({ queue, outcome });
      if (job) metrics.jobDuration.observe({ queue, outcome }, secondsSinceStart(job));
      logger.warn({ queue, jobId: job?.id, attempt: job?.attemptsMade, final, reason: err.message }, final ? 'job failed' : 'job will be retried');
    },
  };
}

function secondsSinceStart(job: Job): number {
  const end = job.finishedOn ?? Date.now();
  return job.processedOn ? Math.max(0, (end - job.processedOn) / 1000) : 0;
}

/** The job states `orchard_queue_jobs` reports for every queue (its `state` label values). */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized', 'waiting-children'] as const;

/**
 * Reads every queue's job counts into the `orchard_queue_jobs` gauge whenever a scrape renders it.
 * When Redis cannot answer, the gauge is emptied rather than left showing old counts (an autoscaler
 * reading a missing series falls back to its own default instead of acting on stale numbers), the
 * failure is logged at debug, and the scrape still answers with every other metric.
 */
export function readQueueDepthAtScrape(metrics: Metrics, queues: Queue[], logger: Pick<Logger, 'debug'>, timeoutMs = 2_000): void {
  metrics.readQueueDepthWith(async () => {
    try {
      const reading = Promise.all(queues.map(async (queue) => [queue.name, await queue.getJobCounts(...QUEUE_STATES)] as const));
      const counts = await within(reading, timeoutMs, `queue depth not read within ${timeoutMs} ms`, logger);
      for (const [queue, byState] of counts) {
        for (const state of QUEUE_STATES) metrics.queueJobs.set({ queue, state }, byState[state] ?? 0);
      }
    } catch (err) {
      metrics.queueJobs.reset();
      logger.debug({ reason: errorReason(err) }, 'queue depth not read for this scrape');
    }
  });
}
