import { Queue, QueueEvents, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { queues, type ExtractJob, type FetchJob, type FetchResult, type RefreshJob } from './jobs.js';

/** Typed producers for every queue, sharing one connection. */
export class Producers {
  readonly fetch: Queue<FetchJob, FetchResult>;
  readonly extract: Queue<ExtractJob>;
  readonly refresh: Queue<RefreshJob>;

  constructor(connection: Redis, prefix: string) {
    this.fetch = new Queue(queues.fetch.name, { connection, prefix, defaultJobOptions: queues.fetch.options });
    this.extract = new Queue(queues.extract.name, { connection, prefix, defaultJobOptions: queues.extract.options });
    this.refresh = new Queue(queues.refresh.name, { connection, prefix, defaultJobOptions: queues.refresh.options });
    for (const q of [this.fetch, this.extract, this.refresh]) q.on('error', () => {});
  }

  /** Adds (or joins, same id) the fetch job for one file. */
  addFetch(job: FetchJob): Promise<Job<FetchJob, FetchResult>> {
    return this.fetch.add(queues.fetch.name, job, { jobId: queues.fetch.jobId(job) });
  }

  addExtract(job: ExtractJob): Promise<Job<ExtractJob>> {
    return this.extract.add(queues.extract.name, job, { jobId: queues.extract.jobId(job) });
  }

  addRefresh(job: RefreshJob): Promise<Job<RefreshJob>> {
    return this.refresh.add(queues.refresh.name, job, { jobId: queues.refresh.jobId(job) });
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.fetch.close(), this.extract.close(), this.refresh.close()]);
  }
}

/** Completion events of the fetch queue, so requests can wait on the job they joined. */
export function createFetchEvents(connection: Redis, prefix: string): QueueEvents {
  const events = new QueueEvents(queues.fetch.name, { connection, prefix });
  events.on('error', () => {});
  return events;
}
