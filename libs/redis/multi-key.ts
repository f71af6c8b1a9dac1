import type { RedisClient } from './redis-client.js';
import { isCluster } from './redis-client.js';

/**
 * The values of many keys, in order: one MGET on a server; on a Cluster one GET per key (keys of
 * different slots cannot share a command; the client pipelines them per node).
 */
export async function getEach(redis: RedisClient, keys: readonly string[]): Promise<Array<string | null>> {
  if (keys.length === 0) return [];
  if (!isCluster(redis)) return redis.mget(...keys);
  return Promise.all(keys.map((key) => redis.get(key)));
}

/** Sets the time to live of many keys: one pipeline on a server, one EXPIRE per key on a Cluster. */
export async function expireEach(redis: RedisClient, keys: readonly string[], seconds: number): Promise<void> {
  if (keys.length === 0) return;
  if (isCluster(redis)) {
    await Promise.all(keys.map((key) => redis.expire(key, seconds)));
    return;
  }
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.expire(key, seconds);
  const results = (await pipeline.exec()) ?? [];
  const failed = results.find(([err]) => err);
  if (failed) throw failed[0]!;
}

/**
 * Deletes every key matching a pattern, SCANning in batches (never KEYS, which blocks Redis) and
 * UNLINKing so large values are freed in the background; on a Cluster every master is scanned.
 * Returns how many keys were removed.
 */
export async function deleteMatching(redis: RedisClient, pattern: string, keep?: (key: string) => boolean): Promise<number> {
  const nodes = isCluster(redis) ? redis.nodes('master') : [redis];
  let removed = 0;
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      const doomed = keep ? keys.filter((k) => !keep(k)) : keys;
      if (doomed.length === 0) continue;
      // Keys of one node may still be of many slots: one UNLINK each on a Cluster.
      if (isCluster(redis)) removed += (await Promise.all(doomed.map((key) => redis.unlink(key)))).reduce((a, b) => a + b, 0);
      else removed += await node.unlink(...doomed);
    } while (cursor !== '0');
  }
  return removed;
}
