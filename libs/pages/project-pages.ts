import { listedFileKey, type FileSource, type PageCache, type PageMeta, type PageVariant } from '../cache/index.js';
import { errorReason } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import type { ProjectPage } from '../protocol/types.js';
import { PageFiller, type PageFillDeps } from './page-fill.js';

export type { FreshnessSettings } from './page-fill.js';

/** How the answer relates to the upstream: what the `X-Orchard-Cache` header reports. */
export type CacheState = 'hit' | 'miss' | 'stale' | 'stale-error' | 'uncached';

export type PageAnswer =
  | {
      status: 'page';
      meta: PageMeta;
      body: Buffer;
      cache: CacheState;
      /** Seconds since Orchard last heard from the upstream about this page (for an `Age` header). */
      ageSeconds?: number;
    }
  | { status: 'missing'; cache: CacheState };

/** What the admin API reports about one project's cached page. */
export interface PageCacheState {
  project: string;
  /** fresh/stale: a page is cached; missing: cached as on no upstream; uncached: nothing cached. */
  state: 'fresh' | 'stale' | 'missing' | 'uncached';
  ageSeconds?: number;
  fetchedAt?: string;
  upstream?: string;
  /** Whether the page was filled under the current upstream configuration. */
  currentConfiguration?: boolean;
  /** Set when the last revalidation failed (every upstream failing) and the page is served stale. */
  revalidationFailedAt?: string;
  /** Files the page lists (null when the file map is not cached). */
  files: number | null;
  /** Ids (sha256) of the listed files, for counting the cached ones. */
  fileIds: string[];
}

/** The fill pipeline's dependencies, plus what serving adds. */
export interface ProjectPagesDeps extends PageFillDeps {
  /** Called when a stale page was served: schedule a background revalidation. */
  onStale?: (project: string) => Promise<unknown>;
  metrics: Metrics;
}

/** After a failed revalidation, stale requests wait this long before scheduling another one. */
const RETRY_AFTER_FAILURE_MS = 5_000;

/**
 * The project page pipeline shared by the gateway (serve) and the fetcher (refresh): Redis first,
 * upstream on a miss (single flight: see PageFiller), stale pages served at once and revalidated in
 * the background, and stale pages served when every upstream fails. A page filled under another
 * upstream configuration is revalidated before it is served. Without Redis it serves straight from
 * upstream.
 */
export class ProjectPages {
  private readonly filler: PageFiller;

  constructor(private readonly deps: ProjectPagesDeps) {
    this.filler = new PageFiller(deps);
  }

  /** The file URLs this protocol's pages give (views render their pages with them too). */
  get links(): ProjectPagesDeps['links'] {
    return this.deps.links;
  }

  /** What renders pages with the metadata Orchard extracted (views render their pages with it too). */
  get extractedMetadata(): ProjectPagesDeps['extractedMetadata'] {
    return this.deps.extractedMetadata;
  }

  async serve(project: string, variant: PageVariant): Promise<PageAnswer> {
    const { protocol, pages, metrics, freshness } = this.deps;
    let cached: Awaited<ReturnType<PageCache['get']>> = null;
    let redisUp = true;
    try {
      cached = await pages.get(protocol.name, project, variant);
    } catch {
      redisUp = false;
      metrics.cacheLookups.inc({ category: 'index', result: 'error' });
    }
    if (cached?.metadataFlag && cached.meta.kind === 'page' && this.deps.extractedMetadata) {
      // Metadata of one of its files was extracted since it was rendered: re-render from the model.
      const rerendered = await this.deps.extractedMetadata.rerender(project, cached.metadataFlag).catch((err: unknown) => {
        this.deps.logger.warn({ project, err: (err as Error).message }, 'could not re-render the page with extracted metadata');
        return null;
      });
      if (rerendered) cached = { ...cached, meta: rerendered.meta, body: rerendered.bodies[variant] ?? cached.body };
    }
    if (cached && this.filler.isCurrent(cached.meta)) {
      const age = Date.now() - cached.meta.fetchedAt;
      const ttl = cached.meta.kind === 'missing' ? freshness.missingTtlSeconds : freshness.indexTtlSeconds;
      if (age < ttl * 1000) {
        metrics.cacheLookups.inc({ category: 'index', result: 'hit' });
        return this.answer(cached.meta, cached.body, 'hit', variant, project, age);
      }
      if (cached.meta.kind === 'page' && cached.body && this.deps.onStale) {
        const failedAt = cached.revalidationFailedAt;
        const failing = failedAt !== undefined && failedAt >= cached.meta.fetchedAt;
        metrics.cacheLookups.inc({ category: 'index', result: failing ? 'stale_error' : 'stale' });
        if (!failing || Date.now() - failedAt >= RETRY_AFTER_FAILURE_MS) this.scheduleRefresh(project);
        return { status: 'page', meta: cached.meta, body: cached.body, cache: failing ? 'stale-error' : 'stale', ageSeconds: seconds(age) };
      }
    } else if (redisUp) {
      metrics.cacheLookups.inc({ category: 'index', result: cached ? 'outdated' : 'miss' });
    }
    try {
      // A page from another upstream configuration is fetched in full (its file map was dropped).
      const prior = cached && this.filler.isCurrent(cached.meta) ? cached.meta : null;
      const filled = await this.filler.fill(project, { prior, seen: cached?.meta.fetchedAt ?? 0, useRedis: redisUp });
      let body = filled.built?.bodies[variant] ?? null;
      if (!body && filled.meta.kind === 'page' && redisUp) {
        // Filled by another request or replica, or renewed by a 304: the bodies are in Redis.
        body = (await pages.get(protocol.name, project, variant))?.body ?? null;
      }
      return await this.answer(filled.meta, body, redisUp ? 'miss' : 'uncached', variant, project, 0);
    } catch (err) {
      if (cached?.meta.kind === 'page' && cached.body) {
        this.deps.logger.warn({ project, err: (err as Error).message }, 'every upstream failed; serving the stale page');
        metrics.cacheLookups.inc({ category: 'index', result: 'stale_error' });
        await this.markRevalidationFailed(project);
        return { status: 'page', meta: cached.meta, body: cached.body, cache: 'stale-error', ageSeconds: seconds(Date.now() - cached.meta.fetchedAt) };
      }
      throw err;
    }
  }

  /**
   * Revalidates one page against its upstream (the `refresh` job): a conditional request to the
   * owner, a 304 only renewing freshness. A page already fresh again is left alone; a failure is
   * recorded on the page (it is then served as `stale-error`) and rethrown.
   */
  async refresh(project: string): Promise<void> {
    const { pages, protocol, freshness } = this.deps;
    const meta = await pages.getMeta(protocol.name, project);
    if (!meta) return;
    const ttl = meta.kind === 'missing' ? freshness.missingTtlSeconds : freshness.indexTtlSeconds;
    const current = this.filler.isCurrent(meta);
    if (current && Date.now() - meta.fetchedAt < ttl * 1000) return;
    try {
      await this.filler.fill(project, { prior: current ? meta : null, seen: meta.fetchedAt, useRedis: true });
    } catch (err) {
      if (meta.kind === 'page') await this.markRevalidationFailed(project);
      throw err;
    }
  }

  /**
   * The upstream source of a file a project page lists under this name, or null when no configured
   * upstream lists it so (Orchard is no open proxy). Loads the page when the file map has expired or
   * was built under another upstream configuration.
   */
  async lookupFile(project: string, sha256: string, filename: string): Promise<FileSource | null> {
    const { fileMap, pages, protocol } = this.deps;
    const generation = this.deps.generation?.();
    const listed = listedFileKey(sha256, filename);
    try {
      const mapped = await fileMap.get(protocol.name, project, listed, generation);
      if (mapped.known && (!mapped.source || (await this.configured(mapped.source.upstream)))) return mapped.source;
      const seen = (await pages.getMeta(protocol.name, project))?.fetchedAt ?? 0;
      // No validators: a 304 would not rebuild the map.
      const filled = await this.filler.fill(project, { prior: null, seen, useRedis: true });
      if (filled.built) return filled.built.files.get(listed) ?? null;
      if (filled.meta.kind === 'missing') return null;
      const after = await fileMap.get(protocol.name, project, listed, generation);
      if (after.known) return after.source;
      // Another fill renewed the page by a 304, which keeps no map: ask once more, directly.
      return (await this.filler.fillUnshared(project)).built?.files.get(listed) ?? null;
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
      const filled = await this.filler.fill(project, { prior: null, seen: 0, useRedis: false });
      return filled.built?.files.get(listed) ?? null;
    }
  }

  /** The cache state of one project's page (admin API). */
  async state(project: string): Promise<PageCacheState> {
    const { pages, fileMap, protocol, freshness } = this.deps;
    const inspected = await pages.inspect(protocol.name, project);
    const ids = (await fileMap.fileIds(protocol.name, project, this.deps.generation?.())) ?? (await this.modelFileIds(project));
    const files = { files: ids?.length ?? null, fileIds: ids ?? [] };
    if (!inspected) return { project, state: 'uncached', ...files };
    const { meta, revalidationFailedAt } = inspected;
    const age = Date.now() - meta.fetchedAt;
    const current = this.filler.isCurrent(meta);
    const common = {
      project,
      ageSeconds: seconds(age),
      fetchedAt: new Date(meta.fetchedAt).toISOString(),
      currentConfiguration: current,
      ...files,
    };
    if (meta.kind === 'missing') {
      return { ...common, state: current && age < freshness.missingTtlSeconds * 1000 ? 'missing' : 'uncached' };
    }
    return {
      ...common,
      state: current && age < freshness.indexTtlSeconds * 1000 ? 'fresh' : 'stale',
      ...(meta.upstream ? { upstream: meta.upstream } : {}),
      ...(revalidationFailedAt !== undefined && revalidationFailedAt >= meta.fetchedAt ? { revalidationFailedAt: new Date(revalidationFailedAt).toISOString() } : {}),
    };
  }

  /** Drops one project's cached page and file map; true when a page was cached. */
  async invalidate(project: string): Promise<boolean> {
    const { pages, fileMap, protocol } = this.deps;
    const dropped = await pages.delete(protocol.name, project);
    await fileMap.delete(protocol.name, project);
    return dropped;
  }

  /**
   * Drops every cached page and every file map (a file of a purged listing is served again only
   * when a fresh listing still has it); returns how many keys went.
   */
  async invalidateAll(): Promise<number> {
    const { pages, fileMap, protocol } = this.deps;
    const dropped = await pages.deleteAll(protocol.name);
    return dropped + (await fileMap.deleteAll(protocol.name));
  }

  /** The file ids of the cached page's model (when its file map expired), or null. */
  /** Records a failed revalidation on the page (served as `stale-error`); Redis trouble only costs the mark. */
  private async markRevalidationFailed(project: string): Promise<void> {
    const { pages, protocol, logger } = this.deps;
    await pages.markRevalidationFailed(protocol.name, project, Date.now()).catch((err: unknown) => {
      logger.debug({ project, err: errorReason(err) }, 'could not mark the failed revalidation');
    });
  }

  private async modelFileIds(project: string): Promise<string[] | null> {
    const { pages, protocol } = this.deps;
    const cached = await pages.getModel(protocol.name, project);
    if (!cached || cached.meta.kind !== 'page') return null;
    const model = JSON.parse(cached.model.toString('utf8')) as ProjectPage;
    return [...new Set(model.files.map((file) => protocol.fileIdentity(file)).filter((id) => id !== undefined))];
  }

  private scheduleRefresh(project: string): void {
    this.deps.onStale?.(project).catch((err: unknown) => {
      this.deps.logger.warn({ project, err: (err as Error).message }, 'could not schedule a page refresh');
    });
  }

  private async configured(upstream: string): Promise<boolean> {
    return (await this.deps.upstreams()).some((u) => u.name === upstream);
  }

  private async answer(meta: PageMeta, body: Buffer | null, cache: CacheState, variant: PageVariant, project: string, age: number): Promise<PageAnswer> {
    if (meta.kind === 'missing') return { status: 'missing', cache };
    if (body) return { status: 'page', meta, body, cache, ageSeconds: seconds(age) };
    // A page stored without this representation (written by an older version): rebuild it.
    const filled = await this.filler.fill(project, { prior: null, seen: meta.fetchedAt, useRedis: true });
    let rebuilt = filled.built?.bodies[variant];
    if (!rebuilt && filled.meta.kind === 'page') rebuilt = (await this.deps.pages.get(this.deps.protocol.name, project, variant))?.body ?? undefined;
    if (filled.meta.kind === 'missing' || !rebuilt) return { status: 'missing', cache };
    return { status: 'page', meta: filled.meta, body: rebuilt, cache, ageSeconds: 0 };
  }
}

function seconds(ms: number): number {
  return Math.max(0, Math.floor(ms / 1000));
}

/** ioredis rejects at once without an offline queue while disconnected. */
export function isRedisUnavailable(err: unknown): boolean {
  const message = err instanceof Error ? err.message : '';
  return /Stream isn't writeable|Connection is closed|enableOfflineQueue|ECONNREFUSED|Command timed out|max retries/i.test(message);
}
