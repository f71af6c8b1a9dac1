import type { RedisClient } from '../redis/index.js';

/** How long an entry counts when its download never ends it (a fetcher killed mid-download). */
const LAPSE_MS = 3_600_000;

/**
 * The sizes of downloads in progress, across every fetcher: a sorted set in the cache Redis scored
 * by when each entry lapses. Eviction counts them as already stored, so room is made while a file
 * downloads rather than after it landed (a 2 GB wheel never pushes a nearly full disk over).
 */
export class IncomingDownloads {
  constructor(
    private readonly redis: RedisClient,
    private readonly key: string,
  ) {}

  /** Counts a download of `size` bytes of the file `sha256` until the returned function is called. */
  async begin(sha256: string, id: string, size: number): Promise<() => Promise<void>> {
    const member = `${sha256}/${id}/${size}`;
    await this.redis.zadd(this.key, Date.now() + LAPSE_MS, member);
    return async () => void (await this.redis.zrem(this.key, member));
  }

  /** The downloads in progress (lapsed entries dropped). */
  async entries(): Promise<Array<{ sha256: string; size: number }>> {
    const now = Date.now();
    await this.redis.zremrangebyscore(this.key, '-inf', now);
    const members = await this.redis.zrangebyscore(this.key, now, '+inf');
    return members.map((member) => ({ sha256: member.slice(0, member.indexOf('/')), size: Number(member.slice(member.lastIndexOf('/') + 1)) }));
  }
}
