import type { RedisOptions } from 'ioredis';
import { createRedisClient, type RedisClient } from '../redis/index.js';
import { errorReason, type Logger } from '../log/index.js';

/**
 * A Redis connection for cache use: commands fail at once while Redis is unreachable (no offline
 * queue), so callers degrade to a miss instead of hanging; ioredis keeps reconnecting in the
 * background and caching resumes by itself when Redis returns.
 */
export function createCacheRedis(url: string, options: RedisOptions = {}, logger?: Logger): RedisClient {
  const redis = createRedisClient(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    lazyConnect: false,
    ...options,
  });
  // Errors surface on the commands; without a listener ioredis would log every reconnect attempt.
  redis.on('error', (err: Error) => logger?.debug({ err: errorReason(err) }, 'cache Redis connection error'));
  return redis;
}

/**
 * Waits (bounded) for a connection's first handshake, so a service that starts with Redis up does
 * not serve its first requests as misses. Resolves false, without throwing, when Redis is down:
 * services start and degrade rather than refuse to start.
 */
export function waitForRedis(redis: RedisClient, timeoutMs = 3_000): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ready: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      resolve(ready);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    redis.once('ready', onReady);
  });
}

/**
 * The /ready checks for Redis: `redis` (the queues' connection, REDIS_URL) and, when the cache lives
 * in a Redis of its own (ORCHARD_CACHE_REDIS_URL), `cacheRedis` too. With one Redis there is one check.
 */
export function redisReadinessChecks(queue: RedisClient, cache: RedisClient, urls: { redisUrl: string; cacheRedisUrl: string }): Record<string, () => Promise<unknown>> {
  if (urls.cacheRedisUrl === urls.redisUrl) return { redis: () => cache.ping() };
  return { redis: () => queue.ping(), cacheRedis: () => cache.ping() };
}
