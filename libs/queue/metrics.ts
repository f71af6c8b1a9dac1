import type { Queue } from 'bullmq';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import type { WorkerHooks } from './workers.js';

/** Job outcome counters and duration histograms, plus a log line for every failure. */
export function jobMetricsHooks(metrics: Metrics, logger: Logger): WorkerHooks {
  return {
    onCompleted(queue, _job, seconds) {
      metrics.jobs.inc({ queue, outcome: 'completed' });
      metrics.jobDuration.observe({ queue }, seconds);
    },
    onFailed(queue, job, err, final) {
      metrics.jobs.inc({ queue, outcome: final ? 'failed' : 'retried' });
      logger.warn({ queue, jobId: job?.id, attempt: job?.attemptsMade, final, reason: err.message }, final ? 'job failed' : 'job will be retried');
    },
  };
}

const STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized', 'waiting-children'] as const;

/** Reads every queue's job counts into the `orchard_queue_jobs` gauge at scrape time. */
export function queueDepthCollector(metrics: Metrics, queues: Queue[]): () => Promise<void> {
  return async () => {
    await Promise.all(
      queues.map(async (queue) => {
        const counts = await queue.getJobCounts(...STATES);
        for (const state of STATES) metrics.queueJobs.set({ queue: queue.name, state }, counts[state] ?? 0);
      }),
    );
  };
}
