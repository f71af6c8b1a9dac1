import { SingleFlight, type FileMap, type PageCache, type PageMeta } from '../cache/index.js';
import type { UpstreamConfig } from '../config/index.js';
import { errorReason, type Logger } from '../log/index.js';
import type { PageFillJob } from '../queue/index.js';
import type { ProtocolAdapter } from '../protocol/types.js';
import type { ExtractedMetadata } from './extracted-metadata.js';
import type { FileLinks } from './file-links.js';
import { buildPage, type BuiltPage } from './page-builder.js';
import { fillFailure, type HandledFill, type PageFillQueue } from './page-fill-queue.js';
import type { UpstreamPageFetcher, Validators } from './upstream-page-fetcher.js';

export interface FreshnessSettings {
  indexTtlSeconds: number;
  indexStaleTtlSeconds: number;
  missingTtlSeconds: number;
}

export interface PageFillDeps {
  protocol: ProtocolAdapter;
  /** The file URLs pages give (see fileLinksFor). */
  links: FileLinks;
  pages: PageCache;
  fileMap: FileMap;
  fetcher: UpstreamPageFetcher;
  upstreams: () => Promise<UpstreamConfig[]>;
  /** The upstream configuration generation pages are tagged with (see UpstreamRegistry). */
  generation?: () => string;
  freshness: FreshnessSettings;
  /** Advertises metadata Orchard extracted itself (PEP 658); without it pages show the upstream's only. */
  extractedMetadata?: ExtractedMetadata;
  /**
   * Shares fills across processes and replicas (`pages` jobs). Without it (the fetcher's refresh
   * jobs, tests) fills are shared within the process only.
   */
  fills?: PageFillQueue;
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

/** How long a caller waits for a shared fill before filling by itself (the upstream calls have their own timeouts). */
const WAIT_MS = 60_000;

/**
 * Single-flight page fills: one upstream request per project at a time, within a process (a shared
 * promise) and across processes and replicas (one `pages` job per project and page seen, see
 * PageFillQueue). Waiters take the fill's page from Redis, or its upstream failure, so a failing
 * upstream is asked once per burst rather than once per replica or per request.
 */
export class PageFiller {
  private readonly inflight = new SingleFlight<Filled>();

  constructor(private readonly deps: PageFillDeps) {
    deps.fills?.serve('project', deps.protocol.name, (job) => this.runJob(job));
  }

  fill(project: string, request: FillRequest): Promise<Filled> {
    return this.inflight.run(project, () => (request.useRedis ? this.fillShared(project, request) : this.fromUpstream(project, request.prior, false)));
  }

  /** Asks the upstreams directly and stores the result, without sharing (a rare race's last resort). */
  fillUnshared(project: string): Promise<Filled> {
    return this.fromUpstream(project, null, true);
  }

  /** Whether a cached page was filled under the current upstream configuration. */
  isCurrent(meta: PageMeta): boolean {
    const generation = this.deps.generation?.();
    return generation === undefined || meta.generation === undefined || meta.generation === generation;
  }

  private async fillShared(project: string, request: FillRequest): Promise<Filled> {
    const { fills, protocol } = this.deps;
    const generation = this.deps.generation?.();
    const job: PageFillJob = {
      kind: 'project',
      protocol: protocol.name,
      project,
      seen: request.seen,
      revalidate: request.prior !== null,
      ...(generation !== undefined ? { generation } : {}),
    };
    const shared = fills ? await fills.run<PageMeta, BuiltPage>(job, WAIT_MS) : null;
    return shared ?? this.fillHere(project, request.seen, request.prior);
  }

  /**
   * A `pages` job for a project, run by this process's worker: the filled page's meta, or the
   * upstream failure; no meta when this process is on another upstream configuration than the
   * caller (an admin change still spreading): the caller then fills with its own.
   */
  private async runJob(job: Extract<PageFillJob, { kind: 'project' }>): Promise<HandledFill<PageMeta | null, BuiltPage>> {
    const generation = this.deps.generation?.();
    if (job.generation !== undefined && generation !== undefined && job.generation !== generation) return { result: { ok: true, meta: null } };
    // The caller's page, as the job's id names it; a 304 from the owner renews it.
    const current = await this.deps.pages.getMeta(this.deps.protocol.name, job.project);
    const prior = job.revalidate && current && this.isCurrent(current) ? current : null;
    try {
      const filled = await this.fillHere(job.project, job.seen, prior, current);
      return { result: { ok: true, meta: filled.meta }, ...(filled.built ? { built: filled.built } : {}) };
    } catch (err) {
      return fillFailure(err);
    }
  }

  /**
   * Fills in this process and stores the result, unless a fill newer than `seen` completed
   * meanwhile (double-checked: a job joined late, or a caller that gave up waiting on one).
   */
  private async fillHere(project: string, seen: number, prior: PageMeta | null, known?: PageMeta | null): Promise<Filled> {
    const meta = known !== undefined ? known : await this.deps.pages.getMeta(this.deps.protocol.name, project).catch(this.unavailable(project, 'page meta', null));
    if (meta && meta.fetchedAt > seen && this.isCurrent(meta)) return { meta };
    return this.fromUpstream(project, prior, true);
  }

  /** A lookup the fill can do without (Redis trouble): logged at debug, answered with `fallback`. */
  private unavailable<T>(project: string, what: string, fallback: T): (err: unknown) => T {
    return (err) => {
      this.deps.logger.debug({ project, err: errorReason(err) }, `${what} unavailable during a page fill`);
      return fallback;
    };
  }

  private async fromUpstream(project: string, prior: PageMeta | null, store: boolean): Promise<Filled> {
    const { protocol, pages, fileMap, fetcher, freshness, logger } = this.deps;
    const upstreams = await this.deps.upstreams();
    const generation = this.deps.generation?.();
    const validators: Validators | undefined =
      prior?.kind === 'page' && prior.upstream ? { upstream: prior.upstream, etag: prior.upstreamEtag, lastModified: prior.upstreamLastModified } : undefined;
    const result = await fetcher.fetch(project, upstreams, validators);
    const keep = freshness.indexTtlSeconds + freshness.indexStaleTtlSeconds;
    const stored = (what: string, write: () => Promise<unknown>) =>
      store ? write().catch((err: unknown) => logger.warn({ project, err: (err as Error).message }, `could not cache the ${what}`)) : undefined;
    if (result.kind === 'not-modified' && prior) {
      // A 304 renews freshness only: the bodies and the file map stay as they are.
      const meta: PageMeta = { ...prior, fetchedAt: Date.now(), ...(generation !== undefined ? { generation } : {}) };
      await stored('revalidated page', () => pages.touch(protocol.name, project, meta, keep));
      // Catches metadata extracted meanwhile whose page flag a concurrent refill dropped.
      const rerendered = store ? await this.deps.extractedMetadata?.rerender(project).catch(this.unavailable(project, 'extracted metadata re-render', null)) : null;
      return { meta: rerendered?.meta ?? meta };
    }
    if (result.kind !== 'page') {
      const meta: PageMeta = { kind: 'missing', etag: '', fetchedAt: Date.now(), ...(generation !== undefined ? { generation } : {}) };
      await stored('missing project', () => pages.put(protocol.name, project, meta, {}, Math.max(1, freshness.missingTtlSeconds)));
      return { meta };
    }
    const extracted = store ? await this.deps.extractedMetadata?.lookup(result.page).catch(this.unavailable(project, 'extracted metadata', undefined)) : undefined;
    const built = await buildPage(protocol, this.deps.links, project, result.upstream, result.page, extracted);
    if (built.skipped > 0) logger.warn({ project, skipped: built.skipped }, 'files without a digest left out of the page');
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
