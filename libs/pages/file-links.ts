import type { ProtocolAdapter } from '../protocol/types.js';

/** The URL a page gives for one of its files (by project, content identity and file name). */
export type FileLinks = (project: string, id: string, filename: string) => string;

/** Where a protocol is served: the gateway's public URL and the protocol's path prefix. */
export interface ProtocolMount {
  /** ORCHARD_PUBLIC_URL, without a trailing slash. */
  publicUrl: string;
  /** '' (PyPI) or e.g. '/npm'. */
  prefix: string;
}

/** The path segment of file URLs under a protocol's prefix: `/files/` (PEP 503) or `/-/files/` (npm: `-` is no package name). */
export function filesSegment(protocol: Pick<ProtocolAdapter, 'pagePaths'>): string {
  return protocol.pagePaths === 'pep503' ? '/files/' : '/-/files/';
}

/** A package name as one path segment (a scoped npm name keeps its `@`, its `/` is `%2f`). */
function nameSegment(project: string): string {
  return project.startsWith('@') ? `@${encodeURIComponent(project.slice(1))}` : encodeURIComponent(project);
}

/**
 * The file links of a protocol's pages. PEP 503 pages link relatively (`../../files/…` from
 * `/simple/<project>/`: the page works under any host and under a view's prefix); npm clients need
 * an absolute `dist.tarball`, so npm pages link under the public URL.
 */
export function fileLinksFor(protocol: Pick<ProtocolAdapter, 'pagePaths'>, mount: ProtocolMount): FileLinks {
  if (protocol.pagePaths === 'pep503') return (project, id, filename) => `../..${filesSegment(protocol)}${project}/${id}/${encodeURIComponent(filename)}`;
  const base = `${mount.publicUrl}${mount.prefix}${filesSegment(protocol)}`;
  return (project, id, filename) => `${base}${nameSegment(project)}/${id}/${encodeURIComponent(filename)}`;
}
