import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis connection for cache use: commands fail at once while Redis is unreachable (no offline
 * queue), so callers degrade to a miss instead of hanging; ioredis keeps reconnecting in the
 * background and caching resumes by itself when Redis returns.
 */
export function createCacheRedis(url: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    lazyConnect: false,
    ...options,
  });
  // Errors surface on the commands; without a listener ioredis would log every reconnect attempt.
  redis.on('error', () => {});
  return redis;
}
