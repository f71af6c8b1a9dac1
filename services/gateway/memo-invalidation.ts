import type { RedisClient } from '../../libs/redis/index.js';
import { publishInvalidation, type Invalidation } from '../../libs/cache/index.js';
import type { Logger } from '../../libs/log/index.js';
import type { ReadMemo } from './read-memo.js';

/**
 * What a gateway process forgets when pages are invalidated (by an admin request on any replica):
 * the project's remembered pages and files, or all of them. Files are forgotten too so that a file
 * of a purged listing is checked against the listing again.
 */
export function forgetInvalidated(memo: ReadMemo): (invalidation: Invalidation) => void {
  return ({ project }) => memo.forget(project);
}

/**
 * Announces an invalidation: forgets it in this process at once, then publishes it for every other
 * gateway process (every replica). A failed publish is logged, not thrown: the pages
 * are gone from Redis already and other processes' memos expire within ORCHARD_PAGE_MEMO_MS.
 */
export function announceInvalidation(deps: { redis: RedisClient; channel: string; protocol: string; forget: (invalidation: Invalidation) => void; logger: Logger }) {
  return async (project?: string): Promise<void> => {
    const invalidation: Invalidation = { protocol: deps.protocol, ...(project !== undefined ? { project } : {}) };
    deps.forget(invalidation);
    await publishInvalidation(deps.redis, deps.channel, invalidation).catch((err: unknown) => {
      deps.logger.warn({ err: (err as Error).message }, 'could not publish the invalidation; other gateways forget it within their page memo time');
    });
  };
}
