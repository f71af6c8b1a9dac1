import { createHash } from 'node:crypto';
import { gzipSync, brotliCompressSync, constants as zlib } from 'node:zlib';
import type { FileSource } from '../cache/index.js';
import type { PageVariant } from '../cache/index.js';
import type { ProjectFile, ProjectPage, ProtocolAdapter } from '../protocol/types.js';

/** Everything stored for one page fill: every representation, rendered and compressed once. */
export interface BuiltPage {
  etag: string;
  bodies: Partial<Record<PageVariant, Buffer>>;
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
 */
export function buildPage(protocol: ProtocolAdapter, project: string, upstream: string, page: ProjectPage): BuiltPage {
  const files = new Map<string, FileSource>();
  const kept: ProjectFile[] = [];
  for (const file of page.files) {
    const sha256 = protocol.fileIdentity(file);
    if (!sha256) continue;
    kept.push(file);
    const meta = file.coreMetadata;
    files.set(sha256, {
      url: file.url,
      upstream,
      filename: file.filename,
      ...(meta === true ? { coreMetadata: true as const } : meta && meta.sha256 ? { coreMetadata: meta.sha256 } : {}),
    });
  }
  const served: ProjectPage = { ...page, files: kept };
  const link = (file: ProjectFile) => fileLink(project, protocol.fileIdentity(file)!, file.filename);
  const html = Buffer.from(protocol.renderProjectHtml(served, link));
  const json = Buffer.from(protocol.renderProjectJson(served, link));
  const model = Buffer.from(JSON.stringify(served));
  const etag = createHash('sha256').update(html).update(json).digest('hex').slice(0, 32);
  return {
    etag,
    files,
    skipped: page.files.length - kept.length,
    bodies: {
      html,
      json,
      model,
      'html.gz': gzipSync(html, { level: 6 }),
      'json.gz': gzipSync(json, { level: 6 }),
      'html.br': brotliCompressSync(html, { params: { [zlib.BROTLI_PARAM_QUALITY]: 5 } }),
      'json.br': brotliCompressSync(json, { params: { [zlib.BROTLI_PARAM_QUALITY]: 5 } }),
    },
  };
}
