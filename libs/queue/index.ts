export { queues, fetchJobSchema, extractJobSchema, refreshJobSchema } from './jobs.js';
export type { FetchJob, ExtractJob, RefreshJob, FetchResult, FetchStored, FetchStreaming, QueueName } from './jobs.js';
export { fetchJobId, isFetchStored, isFetchStreaming } from './jobs.js';
export { createWorkerRedis, createProducerRedis } from './connections.js';
export { Producers, createFetchEvents } from './producers.js';
export { createWorker, UnrecoverableError } from './workers.js';
export type { WorkerHooks } from './workers.js';
export { jobMetricsHooks, queueDepthCollector } from './metrics.js';
