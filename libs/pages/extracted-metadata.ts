import { SingleFlight, type ArtifactCache, type PageCache, type PageMeta, type PageVariant } from '../cache/index.js';
import type { ProjectPage, ProtocolAdapter } from '../protocol/types.js';
import type { FileLinks } from './file-links.js';
import { extractedMetadataCandidates, renderPage } from './page-builder.js';

/** A page re-rendered with newly extracted metadata. */
export interface Rerendered {
  meta: PageMeta;
  bodies: Partial<Record<PageVariant, Buffer>>;
}

/**
 * Keeps cached pages advertising the PEP 658 metadata Orchard extracted itself.
 *
 * - A fill asks, in one MGET over the artifact cache, which of the page's wheels already have
 *   extracted metadata, and renders the page with it ({@link lookup}).
 * - The extractor, after storing a file's METADATA, flags its project's cached page (one HSET, see
 *   `ArtifactCache.setExtracted`). The page's next reader re-renders it from its stored `model`
 *   ({@link rerender}): one re-render however many files of the project were extracted meanwhile,
 *   and none for pages nobody reads. The replacement is conditional on the page not having been
 *   refilled in between, so a re-render never overwrites a newer page.
 * - An upstream 304 revalidation also re-checks ({@link rerender} without a flag), which bounds how
 *   long a page can miss a flag: one a concurrent refill dropped is caught at the next revalidation.
 */
export class ExtractedMetadata {
  private readonly running = new SingleFlight<Rerendered | null>();

  constructor(
    private readonly deps: {
      protocol: ProtocolAdapter;
      links: FileLinks;
      artifacts: ArtifactCache;
      pages: PageCache;
    },
  ) {}

  /** File sha256 → extracted metadata sha256, for the page's files that may advertise it. Throws when Redis does. */
  lookup(model: ProjectPage): Promise<Map<string, string>> {
    const { protocol, artifacts } = this.deps;
    return artifacts.metadataDigests(protocol.name, extractedMetadataCandidates(protocol, model));
  }

  /**
   * Re-renders the cached page when more of its files have extracted metadata than it advertises;
   * returns the new meta and bodies, or null when nothing changed (the flag, if given, is cleared).
   */
  rerender(project: string, flag?: string): Promise<Rerendered | null> {
    return this.running.run(`${project}\u0000${flag ?? ''}`, () => this.rerenderNow(project, flag));
  }

  private async rerenderNow(project: string, flag: string | undefined): Promise<Rerendered | null> {
    const { protocol, pages } = this.deps;
    const cached = await pages.getModel(protocol.name, project);
    if (!cached || cached.meta.kind !== 'page') {
      if (flag) await pages.clearMetadataFlag(protocol.name, project, flag);
      return null;
    }
    const model = JSON.parse(cached.model.toString('utf8')) as ProjectPage;
    const extracted = await this.lookup(model);
    if (extracted.size <= (cached.meta.extractedMetadata ?? 0)) {
      if (flag) await pages.clearMetadataFlag(protocol.name, project, flag);
      return null;
    }
    const rendered = await renderPage(protocol, this.deps.links, project, model, extracted);
    const meta: PageMeta = { ...cached.meta, etag: rendered.etag, extractedMetadata: rendered.extractedMetadata };
    const replaced = await pages.replaceRendered(protocol.name, project, cached.rawMeta, meta, rendered.bodies, flag);
    return replaced ? { meta, bodies: rendered.bodies } : null;
  }
}
