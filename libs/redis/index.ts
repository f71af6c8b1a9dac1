/** Connections to Redis in any of its deployments (server, Sentinel, Cluster) and the few multi-key operations that differ between them. */
export { createRedisClient, isCluster, type RedisClient } from './redis-client.js';
export { describeRedisTarget, parseRedisUrl, queuePrefixFor, type RedisNode, type RedisTarget } from './redis-url.js';
export { deleteMatching, expireEach, getEach } from './multi-key.js';
