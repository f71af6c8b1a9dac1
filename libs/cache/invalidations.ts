import { createRedisClient, type RedisClient } from '../redis/index.js';
import type { Logger } from '../log/index.js';

/** What was invalidated: one project's page, or (no project) every page of the protocol. */
export interface Invalidation {
  protocol: string;
  project?: string;
}

/** What a subscriber does with an invalidation: forget what its process remembers of those pages. */
export type InvalidationHandler = (invalidation: Invalidation) => void;

/** The pub/sub channel of one cache namespace (`<ORCHARD_CACHE_PREFIX>:invalidations`). */
export function invalidationChannel(prefix: string): string {
  return `${prefix}:invalidations`;
}

/**
 * Tells every subscribed process (each gateway worker of each replica) that pages were dropped from
 * Redis, so they forget their in-process copies at once. Published on the cache Redis.
 */
export async function publishInvalidation(redis: RedisClient, channel: string, invalidation: Invalidation): Promise<void> {
  await redis.publish(channel, JSON.stringify(invalidation));
}

/**
 * A subscription to the invalidation channel on its own connection (a subscribed connection can run
 * nothing else). Pub/sub delivers at most once: while the connection is down messages are lost, so
 * on every reconnection the handler gets an invalidation of everything (the process cannot know what
 * it missed). Whatever is lost the page memo's own expiry (ORCHARD_PAGE_MEMO_MS) still bounds.
 */
export class InvalidationSubscriber {
  private readonly redis: RedisClient;
  private connectedBefore = false;

  constructor(
    url: string,
    private readonly channel: string,
    private readonly protocol: string,
    private readonly handler: InvalidationHandler,
    private readonly logger: Logger,
  ) {
    this.redis = createRedisClient(url, { maxRetriesPerRequest: null, retryStrategy: (attempt) => Math.min(attempt * 200, 2_000) });
    this.redis.on('error', (err: Error) => logger.debug({ err: err.message }, 'invalidation subscription: Redis error'));
    this.redis.on('ready', () => this.onReady());
    this.redis.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    // ioredis subscribes again by itself after a reconnection; this first call queues until connected.
    this.redis.subscribe(this.channel).catch((err: unknown) => logger.debug({ err: (err as Error).message }, 'could not subscribe to invalidations yet'));
  }

  /** Whether the subscription is live (for tests and readiness details). */
  get subscribed(): boolean {
    return this.redis.status === 'ready';
  }

  close(): void {
    this.redis.disconnect();
  }

  private onReady(): void {
    if (this.connectedBefore) {
      this.logger.debug('invalidation subscription restored; forgetting every remembered page');
      this.handler({ protocol: this.protocol });
    }
    this.connectedBefore = true;
  }

  private onMessage(channel: string, message: string): void {
    if (channel !== this.channel) return;
    let invalidation: Invalidation;
    try {
      invalidation = parseInvalidation(message);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'ignored a malformed invalidation message');
      return;
    }
    if (invalidation.protocol === this.protocol) this.handler(invalidation);
  }
}

function parseInvalidation(message: string): Invalidation {
  const parsed = JSON.parse(message) as Partial<Invalidation>;
  if (typeof parsed.protocol !== 'string') throw new Error('no protocol');
  if (parsed.project !== undefined && typeof parsed.project !== 'string') throw new Error('project is not a string');
  return { protocol: parsed.protocol, ...(parsed.project !== undefined ? { project: parsed.project } : {}) };
}
