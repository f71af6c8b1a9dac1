import type { Queue, QueueEvents } from 'bullmq';
import type { ArtifactSummary } from '../../libs/db/index.js';
import { errorReason, type Logger } from '../../libs/log/index.js';
import { queues, type ExtractJob } from '../../libs/queue/index.js';

/** Where a re-extraction run stands. */
export interface ReextractProgress {
  runId: string;
  /** Artifacts stored when the run started (grows if more were enqueued). */
  total: number;
  enqueued: number;
  /** Jobs of this run that finished: ok + unsupported + failed + unobserved. */
  done: number;
  ok: number;
  unsupported: number;
  failed: number;
  /** Finished jobs whose outcome event was not seen (the queue drained without it). */
  unobserved: number;
  /** Whether every artifact has been enqueued. */
  enqueueComplete: boolean;
  elapsedMs: number;
  /** Up to 20 failures, for the summary. */
  failures: Array<{ sha256: string; reason: string }>;
}

export interface ReextractOptions {
  /** Every stored artifact of `protocol`, e.g. `ArtifactRepository.listAll({ protocol })`. */
  artifacts: AsyncIterable<ArtifactSummary>;
  /** The protocol of those artifacts: their jobs are read by its adapter. */
  protocol: string;
  /** How many there are, for the progress total. */
  total: number;
  /** The `extract` queue (`Producers.extract`). */
  queue: Queue<ExtractJob>;
  /** Events of the `extract` queue; the run waits for it to be ready before enqueueing. */
  events: QueueEvents;
  /** Distinguishes this run's job ids; unique per run. */
  runId: string;
  /** false: enqueue and return without waiting for the jobs. Default true. */
  wait?: boolean;
  /** Jobs per `addBulk`. Default 500. */
  batchSize?: number;
  /** Called at most every `progressIntervalMs` and once at the end. */
  onProgress?: (progress: ReextractProgress) => void;
  progressIntervalMs?: number;
  /** Aborts the wait (the jobs stay queued and still run). */
  signal?: AbortSignal;
  /** Where a failed drain check (Redis trouble; checked again 5 s later) is logged at debug. */
  logger?: Logger;
}

/**
 * Priority of re-extraction jobs. BullMQ runs jobs without a priority first, so files fetched while a
 * backfill runs are still extracted at once; the backfill fills the remaining capacity.
 */
export const REEXTRACT_PRIORITY = 10;

/**
 * The job id of one artifact's re-extraction in one run. The normal `extract` job id is the sha256
 * alone, and BullMQ ignores an `add` whose id it still holds (completed jobs are kept for an hour),
 * so a re-extraction needs an id of its own: `<sha256>-r<runId>`.
 */
export function reextractJobId(sha256: string, runId: string): string {
  return `${sha256}-r${runId}`;
}

/**
 * Re-extracts every stored artifact through the `extract` queue (so any number of extractor workers
 * share the work), counting outcomes from the queue's events until every job of the run finished.
 * Outcomes come from `completed` events (`ok` / `unsupported`, the handler's return value) and
 * `failed` events (final failures only: BullMQ reports a retry as `waiting`/`delayed`). Should an
 * event be missed (the events stream is capped), the run still ends once the queue has drained.
 */
export async function reextractAll(options: ReextractOptions): Promise<ReextractProgress> {
  const started = Date.now();
  const suffix = `-r${options.runId}`;
  const progress: ReextractProgress = {
    runId: options.runId,
    total: options.total,
    enqueued: 0,
    done: 0,
    ok: 0,
    unsupported: 0,
    failed: 0,
    unobserved: 0,
    enqueueComplete: false,
    elapsedMs: 0,
    failures: [],
  };
  const report = () => options.onProgress?.({ ...progress, elapsedMs: Date.now() - started, failures: [...progress.failures] });
  let changed: () => void = () => {};
  const onCompleted = ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) => {
    if (!jobId.endsWith(suffix)) return;
    const status = (returnvalue as { status?: unknown } | null)?.status;
    if (status === 'unsupported') progress.unsupported += 1;
    else progress.ok += 1;
    progress.done += 1;
    changed();
  };
  const onFailed = ({ jobId, failedReason }: { jobId: string; failedReason: string }) => {
    if (!jobId.endsWith(suffix)) return;
    progress.failed += 1;
    progress.done += 1;
    if (progress.failures.length < 20) progress.failures.push({ sha256: jobId.slice(0, -suffix.length), reason: failedReason });
    changed();
  };
  options.events.on('completed', onCompleted);
  options.events.on('failed', onFailed);
  const timer = setInterval(report, options.progressIntervalMs ?? 1_000);
  try {
    await options.events.waitUntilReady();
    await enqueueAll(options, progress);
    progress.enqueueComplete = true;
    progress.total = Math.max(progress.total, progress.enqueued);
    report();
    if (options.wait === false) return { ...progress, elapsedMs: Date.now() - started };
    await new Promise<void>((resolve, reject) => {
      const finish = () => {
        clearInterval(drainCheck);
        options.signal?.removeEventListener('abort', abort);
        resolve();
      };
      const abort = () => {
        clearInterval(drainCheck);
        reject(options.signal?.reason ?? new Error('aborted'));
      };
      changed = () => {
        if (progress.done >= progress.enqueued) finish();
      };
      // A safety net for missed events: once nothing of the queue is left to run on two checks in
      // a row (so late events have had seconds to arrive), the run is over.
      let emptyChecks = 0;
      const drainCheck = setInterval(() => {
        void drained(options.queue).then(
          (empty) => {
            emptyChecks = empty ? emptyChecks + 1 : 0;
            if (emptyChecks < 2 || progress.done >= progress.enqueued) return;
            progress.unobserved = progress.enqueued - progress.done;
            progress.done = progress.enqueued;
            finish();
          },
          (err: unknown) => options.logger?.debug({ err: errorReason(err) }, 'reextract: queue drain check failed'),
        );
      }, 5_000);
      if (options.signal?.aborted) abort();
      options.signal?.addEventListener('abort', abort, { once: true });
      changed();
    });
    return { ...progress, elapsedMs: Date.now() - started };
  } finally {
    clearInterval(timer);
    options.events.off('completed', onCompleted);
    options.events.off('failed', onFailed);
    report();
  }
}

async function enqueueAll(options: ReextractOptions, progress: ReextractProgress): Promise<void> {
  const batchSize = options.batchSize ?? 500;
  let batch: ArtifactSummary[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    await options.queue.addBulk(
      batch.map((a) => ({
        name: queues.extract.name,
        data: { protocol: options.protocol, sha256: a.sha256, project: a.project, filename: a.filename },
        opts: { jobId: reextractJobId(a.sha256, options.runId), priority: REEXTRACT_PRIORITY },
      })),
    );
    progress.enqueued += batch.length;
    batch = [];
  };
  for await (const artifact of options.artifacts) {
    options.signal?.throwIfAborted();
    batch.push(artifact);
    if (batch.length >= batchSize) await flush();
  }
  await flush();
}

async function drained(queue: Queue): Promise<boolean> {
  const counts = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'waiting-children');
  return Object.values(counts).every((n) => n === 0);
}
