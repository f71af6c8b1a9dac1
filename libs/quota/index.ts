export { ServeTracker, type ServeTrackerDeps } from './serve-tracker.js';
export { pinMatcher } from './pins.js';
export { evictOverQuota, type EvictedFile, type EvictionDeps, type EvictionLimits, type EvictionOutcome, type EvictionReason } from './eviction.js';
export { createStorageMetrics, type StorageMetrics } from './storage-metrics.js';
export { runStorageJob, reportStorageJobError, type StorageJobDeps, type StorageJobResult } from './storage-job.js';
export { forgetEvicted } from './forget-evicted.js';
export { IncomingDownloads } from './incoming-downloads.js';
export { waitForRoom, type RoomDeps } from './room.js';
