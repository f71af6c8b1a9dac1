import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { parseRedisUrl, type RedisTarget } from './redis-url.js';

/** A connection to one Redis deployment: a server (directly or through Sentinel) or a Cluster. */
export type RedisClient = Redis | Cluster;

/**
 * Connects to the Redis a URL names (see {@link parseRedisUrl}) with the given connection behaviour.
 * On a Cluster, `retryStrategy` and `enableOfflineQueue` apply to the cluster as a whole and the rest
 * to each node's connection; commands are auto-pipelined per node, so code that issues one command
 * per key (never one command across keys of different slots) costs one round trip per node.
 */
export function createRedisClient(url: string, options: RedisOptions = {}): RedisClient {
  return connect(parseRedisUrl(url), options);
}

function connect(target: RedisTarget, options: RedisOptions): RedisClient {
  const tls = target.tls ? { tls: {} } : {};
  const auth = { ...(target.username ? { username: target.username } : {}), ...(target.password ? { password: target.password } : {}) };
  switch (target.mode) {
    case 'single':
      return new Redis(target.url, options);
    case 'sentinel':
      return new Redis({
        ...options,
        ...auth,
        ...tls,
        sentinels: target.sentinels,
        name: target.masterName,
        db: target.db,
        ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
        ...(target.tls ? { enableTLSForSentinelMode: true } : {}),
        // Reconnect to the new master as soon as the Sentinels announce it (+switch-master), and
        // on a write refused by a demoted one, rather than at the next connection error.
        failoverDetector: true,
        reconnectOnError: (err: Error) => err.message.startsWith('READONLY'),
      });
    case 'cluster': {
      const { retryStrategy, enableOfflineQueue, lazyConnect, ...nodeOptions } = options;
      const clusterOptions: ClusterOptions = {
        redisOptions: { ...nodeOptions, ...auth, ...tls },
        enableAutoPipelining: true,
        ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
        ...(lazyConnect !== undefined ? { lazyConnect } : {}),
        ...(retryStrategy ? { clusterRetryStrategy: (times: number) => retryStrategy(times) } : {}),
      };
      return new Cluster(target.nodes, clusterOptions);
    }
  }
}

/** Whether a client is a Cluster's (whose multi-key commands must stay within one slot). */
export function isCluster(redis: RedisClient): redis is Cluster {
  return redis instanceof Cluster;
}
