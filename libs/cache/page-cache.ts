import type { Redis } from 'ioredis';
import type { CacheKeys } from './keys.js';

/** What Orchard remembers about a cached project page besides its bodies. */
export interface PageMeta {
  kind: 'page' | 'missing';
  /** Base of the representations' ETags (content hash of the page model). */
  etag: string;
  /** When Orchard last got an answer from upstream (ms since epoch); freshness counts from here. */
  fetchedAt: number;
  /** Name of the upstream that owns the project. */
  upstream?: string;
  /** Upstream validators for revalidation. */
  upstreamEtag?: string;
  upstreamLastModified?: string;
}

/** The representations stored per page; each pre-rendered once when the page is filled. */
export type PageVariant = 'html' | 'json' | 'html.gz' | 'json.gz' | 'html.br' | 'json.br' | 'model';

export interface CachedPage {
  meta: PageMeta;
  body: Buffer | null;
}

/**
 * Project pages in Redis: one hash per project (`…:index:<protocol>:<project>`) holding `meta` and
 * the pre-rendered bodies, so a hit costs one HMGET. The key lives for the freshness TTL plus the
 * stale window; freshness itself is judged from `meta.fetchedAt`.
 */
export class PageCache {
  constructor(
    private readonly redis: Redis,
    private readonly keys: CacheKeys,
  ) {}

  /** The page's meta and one representation; null on a miss. Throws when Redis is unreachable. */
  async get(protocol: string, project: string, variant: PageVariant): Promise<CachedPage | null> {
    const [meta, body] = await this.redis.hmgetBuffer(this.keys.key('index', protocol, project), 'meta', variant);
    if (!meta) return null;
    return { meta: JSON.parse(meta.toString('utf8')) as PageMeta, body: body ?? null };
  }

  async getMeta(protocol: string, project: string): Promise<PageMeta | null> {
    const meta = await this.redis.hget(this.keys.key('index', protocol, project), 'meta');
    return meta ? (JSON.parse(meta) as PageMeta) : null;
  }

  /** Replaces the whole page atomically (MULTI): readers never see bodies of two versions. */
  async put(
    protocol: string,
    project: string,
    meta: PageMeta,
    bodies: Partial<Record<PageVariant, Buffer | string>>,
    keepSeconds: number,
  ): Promise<void> {
    const key = this.keys.key('index', protocol, project);
    const fields: Array<string | Buffer> = ['meta', JSON.stringify(meta)];
    for (const [variant, body] of Object.entries(bodies)) {
      if (body !== undefined) fields.push(variant, body);
    }
    await this.redis.multi().del(key).hset(key, ...fields).expire(key, Math.max(1, keepSeconds)).exec();
  }

  /** Renews freshness only (an upstream 304): the bodies stay. */
  async touch(protocol: string, project: string, meta: PageMeta, keepSeconds: number): Promise<void> {
    const key = this.keys.key('index', protocol, project);
    await this.redis.multi().hset(key, 'meta', JSON.stringify(meta)).expire(key, Math.max(1, keepSeconds)).exec();
  }

  async delete(protocol: string, project: string): Promise<void> {
    await this.redis.del(this.keys.key('index', protocol, project));
  }
}
