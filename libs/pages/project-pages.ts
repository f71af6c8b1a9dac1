import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { UpstreamConfig } from '../config/index.js';
import type { CacheKeys, FileMap, FileSource, PageCache, PageMeta, PageVariant } from '../cache/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import type { ProtocolAdapter } from '../protocol/types.js';
import { buildPage, type BuiltPage } from './page-builder.js';
import type { UpstreamPageFetcher, Validators } from './upstream-page-fetcher.js';

export interface FreshnessSettings {
  indexTtlSeconds: number;
  indexStaleTtlSeconds: number;
  missingTtlSeconds: number;
}

/** How the answer relates to the upstream: what the `X-Orchard-Cache` header reports. */
export type CacheState = 'hit' | 'miss' | 'stale' | 'stale-error' | 'uncached';

export type PageAnswer =
  | { status: 'page'; meta: PageMeta; body: Buffer; cache: CacheState }
  | { status: 'missing'; cache: CacheState };

export interface ProjectPagesDeps {
  protocol: ProtocolAdapter;
  pages: PageCache;
  fileMap: FileMap;
  redis: Redis;
  keys: CacheKeys;
  fetcher: UpstreamPageFetcher;
  upstreams: () => Promise<UpstreamConfig[]>;
  freshness: FreshnessSettings;
  /** Called when a stale page was served: schedule a background revalidation. */
  onStale?: (project: string) => Promise<unknown>;
  metrics: Metrics;
  logger: Logger;
}

interface Filled {
  meta: PageMeta;
  built?: BuiltPage;
}

const LOCK_MS = 30_000;
const POLL_MS = 25;

/**
 * The project page pipeline shared by the gateway (serve) and the fetcher (refresh): Redis first,
 * upstream on a miss, single-flight per project within the process and across replicas (a Redis
 * lock with expiry), stale pages served at once and revalidated in the background, and stale pages
 * served when every upstream fails. Without Redis it serves straight from upstream.
 */
export class ProjectPages {
  private readonly inflight = new Map<string, Promise<Filled>>();

  constructor(private readonly deps: ProjectPagesDeps) {}

  async serve(project: string, variant: PageVariant): Promise<PageAnswer> {
    const { protocol, pages, metrics } = this.deps;
    let cached: Awaited<ReturnType<PageCache['get']>> = null;
    let redisUp = true;
    try {
      cached = await pages.get(protocol.name, project, variant);
    } catch {
      redisUp = false;
      metrics.cacheLookups.inc({ category: 'index', result: 'error' });
    }
    if (cached) {
      const age = (Date.now() - cached.meta.fetchedAt) / 1000;
      const ttl = cached.meta.kind === 'missing' ? this.deps.freshness.missingTtlSeconds : this.deps.freshness.indexTtlSeconds;
      if (age < ttl) {
        metrics.cacheLookups.inc({ category: 'index', result: 'hit' });
        return this.answer(cached.meta, cached.body, 'hit', variant, project);
      }
      if (cached.meta.kind === 'page' && cached.body && this.deps.onStale) {
        metrics.cacheLookups.inc({ category: 'index', result: 'stale' });
        this.deps.onStale(project).catch((err: unknown) => {
          this.deps.logger.warn({ err: String(err) }, 'could not schedule a page refresh; refreshing inline next time');
        });
        return { status: 'page', meta: cached.meta, body: cached.body, cache: 'stale' };
      }
    } else if (redisUp) {
      metrics.cacheLookups.inc({ category: 'index', result: 'miss' });
    }
    try {
      const filled = await this.fill(project, cached?.meta ?? null, redisUp);
      let body = filled.built?.bodies[variant] ?? null;
      if (!body && filled.meta.kind === 'page' && redisUp) {
        // Filled by another request or replica, or renewed by a 304: the bodies are in Redis.
        body = (await pages.get(protocol.name, project, variant))?.body ?? null;
      }
      return this.answer(filled.meta, body, redisUp ? 'miss' : 'uncached', variant, project);
    } catch (err) {
      if (cached?.meta.kind === 'page' && cached.body) {
        this.deps.logger.warn({ project, err: (err as Error).message }, 'every upstream failed; serving the stale page');
        return { status: 'page', meta: cached.meta, body: cached.body, cache: 'stale-error' };
      }
      throw err;
    }
  }

  /** Revalidates one page against its upstream (the `refresh` job). */
  async refresh(project: string): Promise<void> {
    const meta = await this.deps.pages.getMeta(this.deps.protocol.name, project);
    await this.fill(project, meta, true);
  }

  /**
   * The upstream source of a file listed on a project page, or null when no configured upstream
   * lists it (Orchard is no open proxy). Loads the page when the file map has expired.
   */
  async lookupFile(project: string, fileId: string): Promise<FileSource | null> {
    const { fileMap, protocol } = this.deps;
    try {
      const mapped = await fileMap.get(protocol.name, project, fileId);
      if (mapped.source || mapped.known) return mapped.source;
      // No validators: a 304 would not rebuild the expired map.
      const filled = await this.fill(project, null, true);
      if (filled.built) return filled.built.files.get(fileId) ?? null;
      return (await fileMap.get(protocol.name, project, fileId)).source;
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
      const filled = await this.fill(project, null, false);
      return filled.built?.files.get(fileId) ?? null;
    }
  }

  private async answer(meta: PageMeta, body: Buffer | null, cache: CacheState, variant: PageVariant, project: string): Promise<PageAnswer> {
    if (meta.kind === 'missing') return { status: 'missing', cache };
    if (body) return { status: 'page', meta, body, cache };
    // A page stored without this representation (written by an older version): rebuild it.
    const filled = await this.fill(project, null, true);
    const rebuilt = filled.built?.bodies[variant];
    if (filled.meta.kind === 'missing' || !rebuilt) return { status: 'missing', cache };
    return { status: 'page', meta: filled.meta, body: rebuilt, cache };
  }

  private fill(project: string, prior: PageMeta | null, useRedis: boolean): Promise<Filled> {
    const running = this.inflight.get(project);
    if (running) return running;
    const promise = (useRedis ? this.fillShared(project, prior) : this.fillFromUpstream(project, prior, false)).finally(() =>
      this.inflight.delete(project),
    );
    this.inflight.set(project, promise);
    return promise;
  }

  /** Cross-replica single flight: one holder of the lock asks upstream; the others wait for its result. */
  private async fillShared(project: string, prior: PageMeta | null): Promise<Filled> {
    const { redis, keys, protocol, pages } = this.deps;
    const lockKey = `${keys.key('index', protocol.name, project)}:lock`;
    const token = randomUUID();
    const startedAt = Date.now();
    const deadline = startedAt + LOCK_MS;
    for (;;) {
      let acquired: string | null;
      try {
        acquired = await redis.set(lockKey, token, 'PX', LOCK_MS, 'NX');
      } catch {
        return this.fillFromUpstream(project, prior, false);
      }
      if (acquired) {
        try {
          return await this.fillFromUpstream(project, prior, true);
        } finally {
          await redis.eval(RELEASE_LOCK, 1, lockKey, token).catch(() => {});
        }
      }
      while (Date.now() < deadline) {
        await sleep(POLL_MS);
        const meta = await pages.getMeta(protocol.name, project);
        if (meta && meta.fetchedAt >= startedAt) return { meta };
        if (!(await redis.exists(lockKey))) break;
      }
      if (Date.now() >= deadline) return this.fillFromUpstream(project, prior, true);
    }
  }

  private async fillFromUpstream(project: string, prior: PageMeta | null, store: boolean): Promise<Filled> {
    const { protocol, pages, fileMap, fetcher, freshness, logger } = this.deps;
    const upstreams = await this.deps.upstreams();
    const validators: Validators | undefined =
      prior?.kind === 'page' && prior.upstream
        ? { upstream: prior.upstream, etag: prior.upstreamEtag, lastModified: prior.upstreamLastModified }
        : undefined;
    const result = await fetcher.fetch(project, upstreams, validators);
    const keep = freshness.indexTtlSeconds + freshness.indexStaleTtlSeconds;
    if (result.kind === 'not-modified' && prior) {
      const meta: PageMeta = { ...prior, fetchedAt: Date.now() };
      if (store) await pages.touch(protocol.name, project, meta, keep);
      return { meta };
    }
    if (result.kind === 'missing' || result.kind === 'not-modified') {
      const meta: PageMeta = { kind: 'missing', etag: '', fetchedAt: Date.now() };
      if (store) await pages.put(protocol.name, project, meta, {}, Math.max(1, freshness.missingTtlSeconds));
      return { meta };
    }
    const built = buildPage(protocol, project, result.upstream, result.page);
    if (built.skipped > 0) logger.warn({ project, skipped: built.skipped }, 'files without a sha256 left out of the page');
    const meta: PageMeta = {
      kind: 'page',
      etag: built.etag,
      fetchedAt: Date.now(),
      upstream: result.upstream,
      upstreamEtag: result.etag,
      upstreamLastModified: result.lastModified,
    };
    if (store) {
      await fileMap.replace(protocol.name, project, built.files);
      await pages.put(protocol.name, project, meta, built.bodies, keep);
    }
    return { meta, built };
  }
}

const RELEASE_LOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** ioredis rejects at once without an offline queue while disconnected. */
export function isRedisUnavailable(err: unknown): boolean {
  const message = err instanceof Error ? err.message : '';
  return /Stream isn't writeable|Connection is closed|enableOfflineQueue|ECONNREFUSED|Command timed out|max retries/i.test(message);
}
