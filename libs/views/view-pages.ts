import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { SingleFlight, listedFileKey, type PageVariant, type RootVariant } from '../cache/index.js';
import { MAX_ROOT_BYTES, TimeSlices, renderPage, type CacheState, type ProjectPages, type RenderedPage, type RootPages } from '../pages/index.js';
import { errorReason, type Logger } from '../log/index.js';
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

/** A view's root list: its body and, when it came from the cache, an ETag (none while Redis is down). */
export interface ViewRootAnswer {
  body: Buffer;
  etag?: string;
  cache: CacheState;
}

export interface ViewPagesDeps {
  protocol: ProtocolAdapter;
  pages: Pick<ProjectPages, 'serve' | 'extractedMetadata' | 'links'>;
  root?: Pick<RootPages, 'serve'>;
  metrics: ViewMetrics;
  logger: Logger;
  /** Bytes of built pages kept per process (most recently used first); default 256 MiB. */
  maxBytes?: number;
  /**
   * How long a view page just served is answered again without asking the page cache (the read
   * memo's ORCHARD_PAGE_MEMO_MS; 0: never): a hot view page then costs no Redis read of its model.
   */
  memoMs?: number;
}

/** A view's build of one page version: its representations, the files it lists, and until when it holds. */
interface ViewBuild {
  rendered: RenderedPage;
  files: Set<string>;
  /** When a file the cooldown hides comes of age: the build is made again from then on. */
  validUntil: number;
  bytes: number;
}

type Built = { status: 'built'; build: ViewBuild; answer: { upstream: string; cache: CacheState; ageSeconds?: number } };

const MIB = 2 ** 20;

/**
 * Pages as a view shows them: the plain page's model (through the one page cache: freshness,
 * revalidation, stale-if-error and negative caching are the plain index's), filtered by the view's
 * rules and rendered like any page (links relative, so files resolve under `/v/<view>/files/`).
 * Builds are kept in process memory (bounded in bytes) keyed by the view's fingerprint (its rules)
 * and the plain page's ETag, and made again once a file the cooldown hid comes of age, so a change
 * of the rules, of the page or of the time is a new build, never a stale one.
 */
export class ViewPages {
  private readonly builds: LRUCache<string, ViewBuild>;
  private readonly building = new SingleFlight<{ build: ViewBuild; keep: boolean }>();
  private readonly recent: LRUCache<string, Built> | undefined;
  /** Filtered root lists, by view fingerprint, root ETag and format. */
  private readonly roots = new LRUCache<string, Buffer>({ maxSize: 64 * MIB, sizeCalculation: (body) => Math.max(1, body.length) });
  private readonly rendering = new SingleFlight<Buffer>();
  private readonly rootFormat: PageFormat;

  constructor(private readonly deps: ViewPagesDeps) {
    this.builds = new LRUCache({ maxSize: deps.maxBytes ?? 256 * MIB, sizeCalculation: (build) => Math.max(1, build.bytes) });
    if (deps.memoMs) this.recent = new LRUCache({ max: 1000, ttl: deps.memoMs });
    this.rootFormat = deps.protocol.negotiatePageFormat(deps.protocol.rootIndexAccept)?.format ?? 'html';
  }

  /** The view's project page in `variant` (canonical project name). */
  async project(view: View, project: string, variant: Exclude<PageVariant, 'model'>): Promise<ViewPageAnswer> {
    const built = await this.build(view, project);
    if (built.status !== 'built') return built;
    const body = built.build.rendered.bodies[variant];
    if (!body) throw new Error(`view page ${project} has no ${variant} representation`);
    return { status: 'page', body, etag: built.build.rendered.etag, ...built.answer };
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
  async root(view: View, format: PageFormat): Promise<ViewRootAnswer | null> {
    if (!view.compiled.filtersProjects) return null;
    const { root } = this.deps;
    if (!root) throw new Error('no root list');
    const answer = await root.serve(this.rootFormat as RootVariant);
    if (answer.kind === 'uncached') return { body: await this.renderRoot(view, answer.body, format), cache: 'uncached' };
    const key = `${view.fingerprint}\u0000${answer.meta.etag}\u0000${format}`;
    let body = this.roots.get(key);
    if (!body) {
      body = await this.rendering.run(key, () => this.renderRoot(view, answer.body(), format));
      this.roots.set(key, body);
    }
    return { body, etag: createHash('sha256').update(key).digest('hex').slice(0, 32), cache: answer.cache };
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
    const slices = new TimeSlices();
    for await (const chunk of source) {
      parser.write(chunk);
      await slices.pause();
    }
    parser.end();
    return slices.collect(protocol.renderRootIndex(format, entries));
  }

  private async build(view: View, project: string): Promise<Built | Exclude<ViewPageAnswer, { status: 'page' }>> {
    if (!view.compiled.hasProject(project)) return { status: 'outside' };
    const viewKey = `${view.fingerprint}\u0000${project}`;
    const now = Date.now();
    const recent = this.recent?.get(viewKey);
    if (recent && now < recent.build.validUntil) return { ...recent, answer: { ...recent.answer, cache: 'hit' } };
    const answer = await this.deps.pages.serve(project, 'model');
    if (answer.status === 'missing') return answer;
    const key = `${viewKey}\u0000${answer.meta.etag}`;
    let build = this.builds.get(key);
    if (!build || now >= build.validUntil) {
      const made = await this.building.run(key, () => this.buildNow(view, project, answer.body));
      build = made.build;
      // A build made without the extracted metadata (its lookup failed) serves this request only.
      if (made.keep) this.builds.set(key, build);
    }
    const built: Built = {
      status: 'built',
      build,
      answer: { upstream: answer.meta.upstream ?? '', cache: answer.cache, ...(answer.ageSeconds !== undefined ? { ageSeconds: answer.ageSeconds } : {}) },
    };
    // Only a fresh page is answered again without asking (a stale one is revalidating).
    if (answer.cache === 'hit' || answer.cache === 'miss') this.recent?.set(viewKey, built);
    return built;
  }

  private async buildNow(view: View, project: string, modelBody: Buffer | null, now = Date.now()): Promise<{ build: ViewBuild; keep: boolean }> {
    const { protocol, metrics } = this.deps;
    if (!modelBody) throw new Error(`no cached model of ${project}`);
    const model = JSON.parse(modelBody.toString('utf8')) as ProjectPage;
    const { page, hidden, hiddenVersions, changesAt } = filterPage(view.compiled, protocol, project, model, now);
    // Counted once per build (a page version under the view's rules, in this process).
    for (const [rule, count] of hidden) metrics.hidden.inc({ view: view.name, rule, kind: 'file' }, count);
    for (const [rule, count] of hiddenVersions) metrics.hidden.inc({ view: view.name, rule, kind: 'version' }, count);
    let keep = true;
    const extracted = await this.deps.pages.extractedMetadata?.lookup(page).catch((err: unknown) => {
      this.deps.logger.warn({ view: view.name, project, err: errorReason(err) }, 'view page built without the extracted metadata (not kept)');
      keep = false;
      return undefined;
    });
    const rendered = await renderPage(protocol, this.deps.pages.links, project, page, extracted);
    // The model is only for re-rendering the plain page: not kept here.
    delete rendered.bodies.model;
    const files = new Set<string>();
    for (const file of page.files) {
      const sha256 = protocol.fileIdentity(file);
      if (sha256) files.add(listedFileKey(sha256, file.filename));
    }
    const bytes = Object.values(rendered.bodies).reduce((sum, body) => sum + (body?.length ?? 0), 0) + files.size * 200;
    return { build: { rendered, files, validUntil: changesAt ?? Infinity, bytes }, keep };
  }
}
