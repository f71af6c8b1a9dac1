import { LRUCache } from 'lru-cache';
import { listedFileKey, type PageVariant, type RootVariant } from '../cache/index.js';
import { MAX_ROOT_BYTES, renderPage, type CacheState, type ProjectPages, type RenderedPage, type RootPages } from '../pages/index.js';
import type { PageFormat, ProjectPage, ProtocolAdapter, RootEntry } from '../protocol/index.js';
import { filterPage } from './view-filter.js';
import type { View } from './view-registry.js';
import type { ViewMetrics } from './view-metrics.js';

/** A view's project page, or why there is none. */
export type ViewPageAnswer =
  | { status: 'page'; body: Buffer; etag: string; upstream: string; cache: CacheState; ageSeconds?: number }
  /** No upstream has the project. */
  | { status: 'missing'; cache: CacheState }
  /** The view leaves the project out (allow/deny). */
  | { status: 'outside' };

export interface ViewPagesDeps {
  protocol: ProtocolAdapter;
  pages: Pick<ProjectPages, 'serve' | 'extractedMetadata'>;
  root?: Pick<RootPages, 'serve'>;
  metrics: ViewMetrics;
  /** Built pages kept per process (most recently used); default 1000. */
  maxPages?: number;
  /**
   * How long a view page just served is answered again without asking the page cache (the read
   * memo's ORCHARD_PAGE_MEMO_MS; 0: never): a hot view page then costs no Redis read of its model.
   */
  memoMs?: number;
}

type Built = { status: 'built'; build: ViewBuild; answer: { upstream: string; cache: CacheState; ageSeconds?: number } };

/** A view's build of one page version: every representation, and the files it lists. */
interface ViewBuild {
  rendered: RenderedPage;
  files: Set<string>;
}

/**
 * A cooldown (`min-age`) is applied as of the start of the current step, so one build serves a
 * step's requests; a file crosses the cooldown at most this late.
 */
export const COOLDOWN_STEP_MS = 10_000;

/**
 * Pages as a view shows them: the plain page's model (through the one page cache: freshness,
 * revalidation, stale-if-error and negative caching are the plain index's), filtered by the view's
 * rules and rendered like any page (links relative, so files resolve under `/v/<view>/files/`).
 * Builds are kept in process memory keyed by the view's revision, the plain page's ETag and the
 * cooldown step, so a change of either the rules or the page is a new build.
 */
export class ViewPages {
  private readonly builds: LRUCache<string, Promise<ViewBuild>>;
  private readonly recent: LRUCache<string, Built> | undefined;
  private readonly roots = new LRUCache<string, Promise<Buffer>>({ max: 32 });
  private readonly rootFormat: PageFormat;

  constructor(private readonly deps: ViewPagesDeps) {
    this.builds = new LRUCache({ max: deps.maxPages ?? 1000 });
    if (deps.memoMs) this.recent = new LRUCache({ max: deps.maxPages ?? 1000, ttl: deps.memoMs });
    this.rootFormat = deps.protocol.negotiatePageFormat(deps.protocol.rootIndexAccept)?.format ?? 'html';
  }

  /** The view's project page in `variant` (canonical project name). */
  async project(view: View, project: string, variant: Exclude<PageVariant, 'model'>): Promise<ViewPageAnswer> {
    const built = await this.build(view, project);
    if (built.status !== 'built') return built;
    const body = built.build.rendered.bodies[variant];
    if (!body) throw new Error(`view page ${project} has no ${variant} representation`);
    const { answer } = built;
    return {
      status: 'page',
      body,
      etag: built.build.rendered.etag,
      upstream: answer.upstream,
      cache: answer.cache,
      ...(answer.ageSeconds !== undefined ? { ageSeconds: answer.ageSeconds } : {}),
    };
  }

  /** Whether the view's page of `project` lists this file (a file outside the view is a 404, never fetched). */
  async listsFile(view: View, project: string, sha256: string, filename: string): Promise<boolean> {
    const built = await this.build(view, project);
    return built.status === 'built' && built.build.files.has(listedFileKey(sha256, filename));
  }

  /**
   * The root list under a view that filters projects (allow/deny): the plain list, parsed as it
   * streams out of the cache and rendered again without the projects the view leaves out. Null when
   * the plain list is what the view shows.
   */
  async root(view: View, format: PageFormat): Promise<{ body: Buffer; etag: string; cache: CacheState } | null> {
    if (!view.compiled.filtersProjects) return null;
    const { root } = this.deps;
    if (!root) throw new Error('no root list');
    const answer = await root.serve(this.rootFormat as RootVariant);
    const etag = answer.kind === 'cached' ? answer.meta.etag : undefined;
    const key = `${view.name}\u0000${view.revision}\u0000${etag ?? ''}\u0000${format}`;
    let body = etag === undefined ? undefined : this.roots.get(key);
    if (!body) {
      body = this.renderRoot(view, answer.kind === 'cached' ? answer.body() : answer.body, format);
      if (etag !== undefined) this.roots.set(key, body);
      body.catch(() => this.roots.delete(key));
    }
    const bytes = await body;
    return { body: bytes, etag: `${etag ?? 'uncached'}-${view.name}-${view.revision}`, cache: answer.kind === 'cached' ? answer.cache : 'uncached' };
  }

  private async renderRoot(view: View, source: AsyncIterable<Buffer> | Iterable<Buffer>, format: PageFormat): Promise<Buffer> {
    const { protocol } = this.deps;
    const entries: RootEntry[] = [];
    const contentType = protocol.negotiatePageFormat(protocol.rootIndexAccept)?.contentType;
    const parser = protocol.createRootIndexParser(
      contentType,
      (entry) => {
        if (view.compiled.hasProject(protocol.normalizeName(entry.name))) entries.push(entry);
      },
      MAX_ROOT_BYTES,
    );
    for await (const chunk of source) parser.write(chunk);
    parser.end();
    return Buffer.from([...protocol.renderRootIndex(format, entries)].join(''));
  }

  private async build(view: View, project: string): Promise<Built | Exclude<ViewPageAnswer, { status: 'page' }>> {
    if (!view.compiled.hasProject(project)) return { status: 'outside' };
    const step = view.compiled.minAgeMs === undefined ? 0 : Math.floor(Date.now() / COOLDOWN_STEP_MS);
    const recentKey = `${view.name}\u0000${view.revision}\u0000${project}\u0000${step}`;
    const recent = this.recent?.get(recentKey);
    if (recent) return { ...recent, answer: { ...recent.answer, cache: 'hit' } };
    const answer = await this.deps.pages.serve(project, 'model');
    if (answer.status === 'missing') return answer;
    const key = `${recentKey}\u0000${answer.meta.etag}`;
    let build = this.builds.get(key);
    if (!build) {
      build = this.buildNow(view, project, answer.body, step * COOLDOWN_STEP_MS);
      this.builds.set(key, build);
      build.catch(() => this.builds.delete(key));
    }
    const built: Built = {
      status: 'built',
      build: await build,
      answer: { upstream: answer.meta.upstream ?? '', cache: answer.cache, ...(answer.ageSeconds !== undefined ? { ageSeconds: answer.ageSeconds } : {}) },
    };
    // Only a fresh page is answered again without asking (a stale one is revalidating).
    if (answer.cache === 'hit' || answer.cache === 'miss') this.recent?.set(recentKey, built);
    return built;
  }

  private async buildNow(view: View, project: string, modelBody: Buffer | null, now: number): Promise<ViewBuild> {
    const { protocol, metrics } = this.deps;
    if (!modelBody) throw new Error(`no cached model of ${project}`);
    const model = JSON.parse(modelBody.toString('utf8')) as ProjectPage;
    const { page, hidden, hiddenVersions } = filterPage(view.compiled, protocol, project, model, now === 0 ? Date.now() : now);
    for (const [rule, count] of hidden) metrics.hidden.inc({ view: view.name, rule, kind: 'file' }, count);
    for (const [rule, count] of hiddenVersions) metrics.hidden.inc({ view: view.name, rule, kind: 'version' }, count);
    const extracted = await this.deps.pages.extractedMetadata?.lookup(page).catch(() => undefined);
    const rendered = await renderPage(protocol, project, page, extracted);
    const files = new Set<string>();
    for (const file of page.files) {
      const sha256 = protocol.fileIdentity(file);
      if (sha256) files.add(listedFileKey(sha256, file.filename));
    }
    return { rendered, files };
  }
}
