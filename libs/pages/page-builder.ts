import { createHash } from 'node:crypto';
import { gzipSync, brotliCompressSync, constants as zlib } from 'node:zlib';
import type { FileSource } from '../cache/index.js';
import type { PageVariant } from '../cache/index.js';
import type { ProjectFile, ProjectPage, ProtocolAdapter } from '../protocol/types.js';

/** The representations of one page, rendered and compressed once. */
export interface RenderedPage {
  etag: string;
  bodies: Partial<Record<PageVariant, Buffer>>;
  /** How many files advertise metadata that Orchard extracted itself. */
  extractedMetadata: number;
}

/** Everything stored for one page fill: every representation, rendered and compressed once. */
export interface BuiltPage extends RenderedPage {
  files: Map<string, FileSource>;
  /** Files left out because the upstream gave no sha256 to identify and verify them by. */
  skipped: number;
}

/** Path of a file relative to its project page `/simple/<project>/`. */
export function fileLink(project: string, sha256: string, filename: string): string {
  return `../../files/${project}/${sha256}/${encodeURIComponent(filename)}`;
}

/**
 * Renders a project page as Orchard serves it: links point at the gateway, and only files the
 * upstream identified by sha256 are kept (Orchard verifies every byte against that hash).
 * `extracted` (file sha256 → sha256 of the metadata file Orchard extracted from it) lets the page
 * advertise PEP 658 metadata the upstream did not offer.
 */
export function buildPage(
  protocol: ProtocolAdapter,
  project: string,
  upstream: string,
  page: ProjectPage,
  extracted?: ReadonlyMap<string, string>,
): BuiltPage {
  const files = new Map<string, FileSource>();
  const kept: ProjectFile[] = [];
  for (const file of page.files) {
    const sha256 = protocol.fileIdentity(file);
    if (!sha256) continue;
    kept.push(file);
    files.set(sha256, { url: file.url, upstream, filename: file.filename, ...upstreamMetadata(file) });
  }
  // The model is the upstream's page as kept: re-rendering it later adds newly extracted metadata.
  const model: ProjectPage = { ...page, files: kept };
  return { ...renderPage(protocol, project, model, extracted), files, skipped: page.files.length - kept.length };
}

/** What the file map remembers of the upstream's own metadata file: its sha256, or true (another or no hash). */
function upstreamMetadata(file: ProjectFile): Pick<FileSource, 'coreMetadata'> {
  const meta = file.coreMetadata;
  if (meta === undefined || meta === false) return {};
  if (meta !== true && meta['sha256']) return { coreMetadata: meta['sha256'] };
  return { coreMetadata: true };
}

/**
 * The files of a (kept) page whose extracted metadata may be advertised: those the protocol allows
 * it for (wheels) and the upstream offered no hashed metadata file for.
 */
export function extractedMetadataCandidates(protocol: ProtocolAdapter, model: ProjectPage): string[] {
  const ids: string[] = [];
  for (const file of model.files) {
    if (file.coreMetadata !== undefined && file.coreMetadata !== false && file.coreMetadata !== true) continue;
    const sha256 = protocol.fileIdentity(file);
    if (sha256 && protocol.advertisesExtractedMetadata(file.filename)) ids.push(sha256);
  }
  return ids;
}

/**
 * Renders every representation of a page model (the `model` body included) with the extracted
 * metadata applied; the ETag is a content hash of what clients see.
 */
export function renderPage(
  protocol: ProtocolAdapter,
  project: string,
  model: ProjectPage,
  extracted?: ReadonlyMap<string, string>,
): RenderedPage {
  let extractedMetadata = 0;
  let served = model;
  if (extracted && extracted.size > 0) {
    const candidates = new Set(extractedMetadataCandidates(protocol, model));
    served = {
      ...model,
      files: model.files.map((file) => {
        const sha256 = protocol.fileIdentity(file)!;
        const digest = candidates.has(sha256) ? extracted.get(sha256) : undefined;
        if (!digest) return file;
        extractedMetadata++;
        return { ...file, coreMetadata: { sha256: digest } };
      }),
    };
  }
  const link = (file: ProjectFile) => fileLink(project, protocol.fileIdentity(file)!, file.filename);
  const html = Buffer.from(protocol.renderProjectHtml(served, link));
  const json = Buffer.from(protocol.renderProjectJson(served, link));
  const etag = createHash('sha256').update(html).update(json).digest('hex').slice(0, 32);
  return {
    etag,
    extractedMetadata,
    bodies: {
      html,
      json,
      model: Buffer.from(JSON.stringify(model)),
      'html.gz': gzipSync(html, { level: 6 }),
      'json.gz': gzipSync(json, { level: 6 }),
      'html.br': brotliCompressSync(html, { params: { [zlib.BROTLI_PARAM_QUALITY]: 5 } }),
      'json.br': brotliCompressSync(json, { params: { [zlib.BROTLI_PARAM_QUALITY]: 5 } }),
    },
  };
}
