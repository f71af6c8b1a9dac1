import type { Redis } from 'ioredis';

/**
 * Deletes every key matching a pattern, SCANning in batches (never KEYS, which blocks Redis) and
 * UNLINKing so large values are freed in the background. Returns how many keys were removed.
 */
export async function deleteMatching(redis: Redis, pattern: string, keep?: (key: string) => boolean): Promise<number> {
  let cursor = '0';
  let removed = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    const doomed = keep ? keys.filter((k) => !keep(k)) : keys;
    if (doomed.length > 0) removed += await redis.unlink(...doomed);
  } while (cursor !== '0');
  return removed;
}
