import { createRedisClient, type RedisClient } from '../redis/index.js';

/**
 * BullMQ connections. Workers need `maxRetriesPerRequest: null` (blocking commands must survive a
 * Redis restart); producers fail fast instead (no offline queue) so a request can fall back to
 * upstream while Redis is down. The no-op `error` listeners only keep an error from crashing the
 * process before BullMQ attaches its own: the Queue, QueueEvents and Worker using a connection
 * re-emit its errors, and those are logged (`logErrors`).
 */
export function createWorkerRedis(url: string): RedisClient {
  const redis = createRedisClient(url, { maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(n * 200, 2_000) });
  redis.on('error', () => {});
  return redis;
}

export function createProducerRedis(url: string): RedisClient {
  const redis = createRedisClient(url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 2_000,
    retryStrategy: (n) => Math.min(n * 200, 2_000),
  });
  redis.on('error', () => {});
  return redis;
}
