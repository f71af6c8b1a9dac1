import { Queue, QueueEvents, type Job } from 'bullmq';
import type { RedisClient } from '../redis/index.js';
import type { Logger } from '../log/index.js';
import { queues, type ExtractJob, type FetchJob, type FetchResult, type PageFillJob, type PageFillResult, type QueueName, type RefreshJob, type StorageJob } from './jobs.js';
import { logErrors } from './log-errors.js';

/** Typed producers for every queue, sharing one connection. */
export class Producers {
  readonly fetch: Queue<FetchJob, FetchResult>;
  readonly extract: Queue<ExtractJob>;
  readonly refresh: Queue<RefreshJob>;
  readonly pages: Queue<PageFillJob, PageFillResult>;
  readonly storage: Queue<StorageJob>;

  /** `logger`: where the queues' `error` events go (connection trouble). */
  constructor(connection: RedisClient, prefix: string, logger: Logger) {
    this.fetch = new Queue(queues.fetch.name, { connection, prefix, defaultJobOptions: queues.fetch.options });
    this.extract = new Queue(queues.extract.name, { connection, prefix, defaultJobOptions: queues.extract.options });
    this.refresh = new Queue(queues.refresh.name, { connection, prefix, defaultJobOptions: queues.refresh.options });
    this.pages = new Queue(queues.pages.name, { connection, prefix, defaultJobOptions: queues.pages.options });
    this.storage = new Queue(queues.storage.name, { connection, prefix, defaultJobOptions: queues.storage.options });
    for (const q of this.all()) logErrors(q, `queue ${q.name}`, logger);
  }

  /** Adds (or joins, same id) the fetch job for one file. */
  addFetch(job: FetchJob): Promise<Job<FetchJob, FetchResult>> {
    return this.fetch.add(queues.fetch.name, job, { jobId: queues.fetch.jobId(job) });
  }

  /**
   * Adds a file's extract job. `again`: the file was downloaded again (evicted, or lost by storage);
   * an earlier failed extraction is then removed first, as it may have failed for want of the bytes
   * (a failed job is kept a week, and an add under its id would be ignored).
   */
  async addExtract(job: ExtractJob, again = false): Promise<Job<ExtractJob>> {
    const jobId = queues.extract.jobId(job);
    if (again) {
      const previous = await this.extract.getJob(jobId);
      if (previous && (await previous.isFailed())) await previous.remove();
    }
    return this.extract.add(queues.extract.name, job, { jobId });
  }

  addRefresh(job: RefreshJob): Promise<Job<RefreshJob>> {
    return this.refresh.add(queues.refresh.name, job, { jobId: queues.refresh.jobId(job) });
  }

  /** Adds (or joins, same id) the fill of one page or of the root list. */
  addPageFill(job: PageFillJob): Promise<Job<PageFillJob, PageFillResult>> {
    return this.pages.add(queues.pages.name, job, { jobId: queues.pages.jobId(job) });
  }

  /**
   * Adds a run of the storage job. A `usage` run is deduplicated: it waits once however often
   * downloads pull it, and one pulled while a run is active runs right after it (BullMQ's
   * `keepLastIfActive`), so a download starting at the end of a run is never missed. Other runs join
   * one of the same id that has not started yet. `keepResultSeconds` keeps the result after it ends,
   * for a caller waiting on it; `delayMs` starts it later.
   */
  addStorage(job: StorageJob, options: { keepResultSeconds?: number; delayMs?: number } = {}): Promise<Job<StorageJob>> {
    const { keepResultSeconds, delayMs } = options;
    const keep = keepResultSeconds === undefined ? {} : { removeOnComplete: { age: keepResultSeconds }, removeOnFail: { age: keepResultSeconds } };
    const id = queues.storage.jobId(job);
    const identity = job.trigger === 'usage' ? { deduplication: { id, keepLastIfActive: true } } : { jobId: id };
    return this.storage.add(queues.storage.name, job, { ...identity, ...keep, ...(delayMs === undefined ? {} : { delay: delayMs }) });
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.all().map((q) => q.close()));
  }

  private all(): Queue[] {
    return [this.fetch, this.extract, this.refresh, this.pages, this.storage] as Queue[];
  }
}

/** Events of one queue (a dedicated blocking connection is made from `connection`), so callers can wait on the jobs they joined. */
export function createQueueEvents(name: QueueName, connection: RedisClient, prefix: string, logger: Logger): QueueEvents {
  const events = new QueueEvents(queues[name].name, { connection, prefix });
  logErrors(events, `queue events ${name}`, logger);
  // Every waiting request listens for its job's events: a burst of misses is many listeners.
  events.setMaxListeners(0);
  return events;
}
