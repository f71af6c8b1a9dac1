import type { PageFormat } from '../protocol/types.js';
import type { RedisClient } from '../redis/index.js';
import type { CacheKeys } from './keys.js';
import { PAGE_METADATA_FIELD } from './artifact-cache.js';
import { deleteMatching } from '../redis/index.js';

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
  /**
   * The upstream configuration generation the page was filled under; a page from another
   * generation is revalidated before it is served again (the owner may have changed).
   */
  generation?: string;
  /** How many files the page advertises metadata for that Orchard extracted itself (PEP 658). */
  extractedMetadata?: number;
}

/** The representations stored per page; each pre-rendered once when the page is filled. */
export type PageVariant = PageFormat | `${PageFormat}.gz` | `${PageFormat}.br` | 'model';

export interface CachedPage {
  meta: PageMeta;
  body: Buffer | null;
  /** When the last revalidation failed (every upstream failing), if it did since the last fill. */
  revalidationFailedAt?: number;
  /** Set when metadata of one of the page's files was extracted after it was rendered. */
  metadataFlag?: string;
}

/**
 * Project pages in Redis: one hash per project (`…:index:<protocol>:<project>`) holding `meta` and
 * the pre-rendered bodies, so a hit costs one HMGET. The key lives for the freshness TTL plus the
 * stale window; freshness itself is judged from `meta.fetchedAt`.
 */
export class PageCache {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: CacheKeys,
  ) {}

  /** The page's meta and one representation; null on a miss. Throws when Redis is unreachable. */
  async get(protocol: string, project: string, variant: PageVariant): Promise<CachedPage | null> {
    const [meta, body, failed, metadata] = await this.redis.hmgetBuffer(this.keys.key('index', protocol, project), 'meta', variant, 'failed', PAGE_METADATA_FIELD);
    if (!meta) return null;
    const page: CachedPage = { meta: JSON.parse(meta.toString('utf8')) as PageMeta, body: body ?? null };
    if (failed) page.revalidationFailedAt = Number(failed.toString('utf8'));
    if (metadata) page.metadataFlag = metadata.toString('utf8');
    return page;
  }

  /** The page's meta and revalidation failure, without any body (admin API). */
  async inspect(protocol: string, project: string): Promise<{ meta: PageMeta; revalidationFailedAt?: number } | null> {
    const [meta, failed] = await this.redis.hmget(this.keys.key('index', protocol, project), 'meta', 'failed');
    if (!meta) return null;
    return { meta: JSON.parse(meta) as PageMeta, ...(failed ? { revalidationFailedAt: Number(failed) } : {}) };
  }

  async getMeta(protocol: string, project: string): Promise<PageMeta | null> {
    const meta = await this.redis.hget(this.keys.key('index', protocol, project), 'meta');
    return meta ? (JSON.parse(meta) as PageMeta) : null;
  }

  /** Replaces the whole page atomically (MULTI): readers never see bodies of two versions. */
  async put(protocol: string, project: string, meta: PageMeta, bodies: Partial<Record<PageVariant, Buffer | string>>, keepSeconds: number): Promise<void> {
    const key = this.keys.key('index', protocol, project);
    const fields: Array<string | Buffer> = ['meta', JSON.stringify(meta)];
    for (const [variant, body] of Object.entries(bodies)) {
      if (body !== undefined) fields.push(variant, body);
    }
    await this.redis
      .multi()
      .del(key)
      .hset(key, ...fields)
      .expire(key, Math.max(1, keepSeconds))
      .exec();
  }

  /** Renews freshness only (an upstream 304): the bodies stay. */
  async touch(protocol: string, project: string, meta: PageMeta, keepSeconds: number): Promise<void> {
    const key = this.keys.key('index', protocol, project);
    await this.redis.multi().hset(key, 'meta', JSON.stringify(meta)).hdel(key, 'failed').expire(key, Math.max(1, keepSeconds)).exec();
  }

  /** Records that revalidating a cached page failed (stale-if-error); no-op when the page is gone. */
  async markRevalidationFailed(protocol: string, project: string, at: number): Promise<void> {
    await this.redis.eval(MARK_FAILED, 1, this.keys.key('index', protocol, project), String(at));
  }

  /** The page's meta (raw, for {@link replaceRendered}) and its `model` body, for re-rendering. */
  async getModel(protocol: string, project: string): Promise<{ rawMeta: string; meta: PageMeta; model: Buffer } | null> {
    const [meta, model] = await this.redis.hmgetBuffer(this.keys.key('index', protocol, project), 'meta', 'model');
    if (!meta || !model) return null;
    const rawMeta = meta.toString('utf8');
    return { rawMeta, meta: JSON.parse(rawMeta) as PageMeta, model };
  }

  /**
   * Replaces the rendered bodies and meta of a page, but only if its meta is still `expectedRawMeta`
   * (a fill or revalidation in between wins, and the flag stays for the next reader to re-check),
   * then clears the metadata flag if it is still `flag` (a newer one stays). Atomic (one script);
   * the key's expiry is kept. True when the bodies were replaced.
   */
  async replaceRendered(
    protocol: string,
    project: string,
    expectedRawMeta: string,
    meta: PageMeta,
    bodies: Partial<Record<PageVariant, Buffer | string>>,
    flag: string | undefined,
  ): Promise<boolean> {
    const args: Array<string | Buffer> = [expectedRawMeta, flag ?? '', 'meta', JSON.stringify(meta)];
    for (const [variant, body] of Object.entries(bodies)) {
      if (body !== undefined && variant !== 'model') args.push(variant, body);
    }
    const replaced = await this.redis.eval(REPLACE_RENDERED, 1, this.keys.key('index', protocol, project), PAGE_METADATA_FIELD, ...args);
    return replaced === 1;
  }

  /** Clears the metadata flag if it is still `flag` (nothing needed re-rendering). */
  async clearMetadataFlag(protocol: string, project: string, flag: string): Promise<void> {
    await this.redis.eval(CLEAR_FLAG, 1, this.keys.key('index', protocol, project), PAGE_METADATA_FIELD, flag);
  }

  /** Drops one page; true when there was one. */
  async delete(protocol: string, project: string): Promise<boolean> {
    return (await this.redis.del(this.keys.key('index', protocol, project))) > 0;
  }

  /** Drops every cached page of a protocol (and their fill locks); returns how many keys went. */
  async deleteAll(protocol: string): Promise<number> {
    return deleteMatching(this.redis, this.keys.pattern('index', protocol));
  }
}

// KEYS[1] page; ARGV: flag field, expected meta, flag value ('' = none), then field/value pairs.
const REPLACE_RENDERED = `
if redis.call('hget', KEYS[1], 'meta') ~= ARGV[2] then return 0 end
redis.call('hset', KEYS[1], unpack(ARGV, 4))
if ARGV[3] ~= '' and redis.call('hget', KEYS[1], ARGV[1]) == ARGV[3] then redis.call('hdel', KEYS[1], ARGV[1]) end
return 1`;
const CLEAR_FLAG = `if redis.call('hget', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('hdel', KEYS[1], ARGV[1]) end return 0`;
const MARK_FAILED = `if redis.call('exists', KEYS[1]) == 1 then return redis.call('hset', KEYS[1], 'failed', ARGV[1]) end return 0`;
