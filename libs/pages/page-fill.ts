import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { CacheKeys, FileMap, PageCache, PageMeta } from '../cache/index.js';
import type { UpstreamConfig } from '../config/index.js';
import { UpstreamError, type UpstreamFailure } from '../http/index.js';
import type { Logger } from '../log/index.js';
import type { ProtocolAdapter } from '../protocol/types.js';
import type { ExtractedMetadata } from './extracted-metadata.js';
import { buildPage, type BuiltPage } from './page-builder.js';
import type { UpstreamPageFetcher, Validators } from './upstream-page-fetcher.js';

export interface FreshnessSettings {
  indexTtlSeconds: number;
  indexStaleTtlSeconds: number;
  missingTtlSeconds: number;
}

export interface PageFillDeps {
  protocol: ProtocolAdapter;
  pages: PageCache;
  fileMap: FileMap;
  redis: Redis;
  keys: CacheKeys;
  fetcher: UpstreamPageFetcher;
  upstreams: () => Promise<UpstreamConfig[]>;
  /** The upstream configuration generation pages are tagged with (see UpstreamRegistry). */
  generation?: () => string;
  freshness: FreshnessSettings;
  /** Advertises metadata Orchard extracted itself (PEP 658); without it pages show the upstream's only. */
  extractedMetadata?: ExtractedMetadata;
  logger: Logger;
}

/** What one fill asks for. */
export interface FillRequest {
  /** The cached page being revalidated: its owner gets a conditional request. */
  prior: PageMeta | null;
  /**
   * `fetchedAt` of the page the caller saw (0: none). A fill that completed after that point (in
   * this process or another replica) answers the caller too.
   */
  seen: number;
  /** false while Redis is down: ask the upstream and store nothing. */
  useRedis: boolean;
}

export interface Filled {
  meta: PageMeta;
  /** Present when this process did the fill; absent when the result is in Redis (or was a 304). */
  built?: BuiltPage;
}

/** A fill is held this long before its lock expires; the holder renews it while it works. */
const LOCK_MS = 15_000;
const POLL_MS = 25;
/** Waiters of a failed fill learn its error from this key (read only by those who saw that holder). */
const FAILURE_MS = 5_000;

/**
 * Single-flight page fills: one upstream request per project at a time, within a process (a shared
 * promise) and across replicas (a Redis lock with expiry, renewed while the holder works). Waiters
 * take the holder's result from Redis, or its error when it failed, so a failing upstream is asked
 * once per burst rather than once per replica or per request.
 */
export class PageFiller {
  private readonly inflight = new Map<string, Promise<Filled>>();

  constructor(private readonly deps: PageFillDeps) {}

  fill(project: string, request: FillRequest): Promise<Filled> {
    const running = this.inflight.get(project);
    if (running) return running;
    const promise = (request.useRedis ? this.fillShared(project, request) : this.fromUpstream(project, request.prior, false)).finally(() =>
      this.inflight.delete(project),
    );
    this.inflight.set(project, promise);
    return promise;
  }

  /** Asks the upstreams directly and stores the result, without the lock (a rare race's last resort). */
  fillUnshared(project: string): Promise<Filled> {
    return this.fromUpstream(project, null, true);
  }

  /** Whether a cached page was filled under the current upstream configuration. */
  isCurrent(meta: PageMeta): boolean {
    const generation = this.deps.generation?.();
    return generation === undefined || meta.generation === undefined || meta.generation === generation;
  }

  private async fillShared(project: string, request: FillRequest): Promise<Filled> {
    const { redis, keys, protocol } = this.deps;
    const lockKey = `${keys.key('index', protocol.name, project)}:lock`;
    const failureKey = `${lockKey}:failed`;
    const token = randomUUID();
    const deadline = Date.now() + 4 * LOCK_MS;
    for (;;) {
      let holder: string | null;
      try {
        const [acquired, current] = (await redis.eval(ACQUIRE, 1, lockKey, token, String(LOCK_MS))) as [number, string | undefined];
        if (acquired === 1) return await this.holdAndFill(project, request, lockKey, failureKey, token);
        holder = current ?? null;
      } catch (err) {
        if (err instanceof UpstreamError) throw err;
        return this.fromUpstream(project, request.prior, false);
      }
      try {
        const outcome = await this.waitFor(project, request.seen, lockKey, failureKey, holder, deadline);
        if (outcome) return outcome;
      } catch (err) {
        if (err instanceof UpstreamError) throw err;
        return this.fromUpstream(project, request.prior, false);
      }
      if (Date.now() > deadline) return this.fromUpstream(project, request.prior, true);
    }
  }

  private async holdAndFill(project: string, request: FillRequest, lockKey: string, failureKey: string, token: string): Promise<Filled> {
    const { redis, pages, protocol } = this.deps;
    const renew = setInterval(() => void redis.eval(RENEW_LOCK, 1, lockKey, token, String(LOCK_MS)).catch(() => {}), LOCK_MS / 3);
    try {
      // Double-checked: a fill may have completed between the caller's look and this lock.
      const meta = await pages.getMeta(protocol.name, project);
      if (meta && meta.fetchedAt > request.seen && this.isCurrent(meta)) return { meta };
      return await this.fromUpstream(project, request.prior, true);
    } catch (err) {
      if (err instanceof UpstreamError) {
        const failure = JSON.stringify({ token, failure: err.failure, status: err.status, message: err.message });
        await redis.set(failureKey, failure, 'PX', FAILURE_MS).catch(() => {});
      }
      throw err;
    } finally {
      clearInterval(renew);
      await redis.eval(RELEASE_LOCK, 1, lockKey, token).catch(() => {});
    }
  }

  /**
   * Waits while `holder` fills: its result (any page newer than `seen`), its failure (thrown), or
   * undefined when the lock changed hands without either (the holder died or stored nothing).
   */
  private async waitFor(project: string, seen: number, lockKey: string, failureKey: string, holder: string | null, deadline: number): Promise<Filled | undefined> {
    const { redis, keys, protocol } = this.deps;
    const pageKey = keys.key('index', protocol.name, project);
    while (holder && Date.now() < deadline) {
      await sleep(POLL_MS);
      const [[, rawMeta], [, lock], [, rawFailure]] = (await redis.multi().hget(pageKey, 'meta').get(lockKey).get(failureKey).exec()) as [
        [unknown, string | null],
        [unknown, string | null],
        [unknown, string | null],
      ];
      if (rawMeta) {
        const meta = JSON.parse(rawMeta) as PageMeta;
        if (meta.fetchedAt > seen) return { meta };
      }
      if (lock === holder) continue;
      if (rawFailure) {
        const failed = JSON.parse(rawFailure) as { token: string; failure: UpstreamFailure; status?: number; message: string };
        if (failed.token === holder) throw new UpstreamError(failed.failure, failed.message, failed.status);
      }
      return undefined;
    }
    return undefined;
  }

  private async fromUpstream(project: string, prior: PageMeta | null, store: boolean): Promise<Filled> {
    const { protocol, pages, fileMap, fetcher, freshness, logger } = this.deps;
    const upstreams = await this.deps.upstreams();
    const generation = this.deps.generation?.();
    const validators: Validators | undefined =
      prior?.kind === 'page' && prior.upstream
        ? { upstream: prior.upstream, etag: prior.upstreamEtag, lastModified: prior.upstreamLastModified }
        : undefined;
    const result = await fetcher.fetch(project, upstreams, validators);
    const keep = freshness.indexTtlSeconds + freshness.indexStaleTtlSeconds;
    const stored = (what: string, write: () => Promise<unknown>) =>
      store ? write().catch((err: unknown) => logger.warn({ project, err: (err as Error).message }, `could not cache the ${what}`)) : undefined;
    if (result.kind === 'not-modified' && prior) {
      // A 304 renews freshness only: the bodies and the file map stay as they are.
      const meta: PageMeta = { ...prior, fetchedAt: Date.now(), ...(generation !== undefined ? { generation } : {}) };
      await stored('revalidated page', () => pages.touch(protocol.name, project, meta, keep));
      // Catches metadata extracted meanwhile whose page flag a concurrent refill dropped.
      const rerendered = store ? await this.deps.extractedMetadata?.rerender(project).catch(() => null) : null;
      return { meta: rerendered?.meta ?? meta };
    }
    if (result.kind !== 'page') {
      const meta: PageMeta = { kind: 'missing', etag: '', fetchedAt: Date.now(), ...(generation !== undefined ? { generation } : {}) };
      await stored('missing project', () => pages.put(protocol.name, project, meta, {}, Math.max(1, freshness.missingTtlSeconds)));
      return { meta };
    }
    const extracted = store ? await this.deps.extractedMetadata?.lookup(result.page).catch(() => undefined) : undefined;
    const built = await buildPage(protocol, project, result.upstream, result.page, extracted);
    if (built.skipped > 0) logger.warn({ project, skipped: built.skipped }, 'files without a sha256 left out of the page');
    const meta: PageMeta = {
      kind: 'page',
      etag: built.etag,
      fetchedAt: Date.now(),
      upstream: result.upstream,
      upstreamEtag: result.etag,
      upstreamLastModified: result.lastModified,
      ...(generation !== undefined ? { generation } : {}),
      ...(built.extractedMetadata > 0 ? { extractedMetadata: built.extractedMetadata } : {}),
    };
    await stored('page', async () => {
      await fileMap.replace(protocol.name, project, built.files, generation);
      await pages.put(protocol.name, project, meta, built.bodies, keep);
    });
    return { meta, built };
  }
}

/** SET NX with expiry, or the current holder's token: one round trip, no gap between the two. */
const ACQUIRE = `if redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return {1, ARGV[1]} end return {0, redis.call('get', KEYS[1])}`;
const RENEW_LOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE_LOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
