/** The PyPI (PEP 503/691) implementation of the protocol adapter contract. */
import type { PageLimits } from '../page-limits.js';
import type { ProjectFile, ProjectPage, ProjectPageParser, ProtocolAdapter } from '../types.js';
import { isValidProjectName, normalizeName } from './names.js';
import { createProjectHtmlParser, parseProjectHtml } from './parse-project-html.js';
import { createProjectJsonParser, parseProjectJson } from './parse-project-json.js';
import { renderProjectHtmlChunks } from './render-project-html.js';
import { renderProjectJsonChunks } from './render-project-json.js';
import { classifyFilename } from './filenames.js';
import { createRootIndexParser, renderRootIndex, ROOT_INDEX_ACCEPT } from './root-index.js';
import { dependencyEnvironment } from './dependency-environment.js';
import { extractMetadata, readMetadataFile, versionFromFilename } from './extract-metadata.js';
import { ACCEPTABLE_TYPES, negotiatePageFormat } from './negotiate-format.js';
import { compareVersions, isPrerelease, isValidVersionSpecifier, sameVersion, versionSatisfies } from './versions.js';

/** The JSON media type of PEP 691. */
export const PYPI_JSON_TYPE = 'application/vnd.pypi.simple.v1+json';
/** The HTML media type of PEP 691. */
export const PYPI_HTML_TYPE = 'application/vnd.pypi.simple.v1+html';

/** What Orchard asks an upstream project page in: PEP 691 JSON first, then either HTML. */
export const PROJECT_PAGE_ACCEPT = `${PYPI_JSON_TYPE}, ${PYPI_HTML_TYPE};q=0.2, text/html;q=0.1`;

/**
 * Whether a response's Content-Type denotes a PEP 691 JSON page: the PEP 691 JSON type,
 * `application/json` or any other `+json` type. Anything else (HTML types, missing) is HTML.
 */
export function isJsonContentType(contentType: string | undefined): boolean {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || type.endsWith('+json');
}

/** Lower-case sha256 hex of a file, when its index published one. */
export function fileIdentity(file: ProjectFile): string | undefined {
  const sha256 = file.hashes['sha256']?.toLowerCase();
  return sha256 !== undefined && /^[0-9a-f]{64}$/.test(sha256) ? sha256 : undefined;
}

/** Parses a project page, choosing JSON or HTML by content type. */
export function parseProjectPage(body: Buffer | string, contentType: string | undefined, baseUrl: string): ProjectPage {
  return isJsonContentType(contentType) ? parseProjectJson(body, baseUrl) : parseProjectHtml(body, baseUrl);
}

/** An incremental project page parser, choosing JSON or HTML by content type. */
export function createProjectPageParser(contentType: string | undefined, baseUrl: string, limits: PageLimits): ProjectPageParser {
  return isJsonContentType(contentType) ? createProjectJsonParser(baseUrl, limits) : createProjectHtmlParser(baseUrl, limits);
}

/** The PyPI protocol adapter. */
export const pypiProtocol: ProtocolAdapter = {
  name: 'pypi',
  defaultUpstreams: 'pypi=https://pypi.org/simple/',
  configuration: { upstreamsVariable: 'ORCHARD_UPSTREAMS', defaultPrefix: '' },
  normalizeName,
  isValidProjectName,
  projectPageAccept: PROJECT_PAGE_ACCEPT,
  parseProjectPage,
  createProjectPageParser,
  negotiatePageFormat,
  acceptablePageTypes: ACCEPTABLE_TYPES,
  pageFormats: ['html', 'json'],
  renderProject: (format, page, link) => (format === 'html' ? renderProjectHtmlChunks(page, link) : renderProjectJsonChunks(page, link)),
  fileIdentity,
  fileDigest: (file) => {
    const hex = fileIdentity(file);
    return hex === undefined ? undefined : { algorithm: 'sha256', hex };
  },
  pagePaths: 'pep503',
  hasRootIndex: true,
  projectPageUrl: (upstreamUrl, project) => new URL(`${encodeURIComponent(project)}/`, upstreamUrl).toString(),
  // PEP 658 metadata is a wheel's METADATA; an sdist's PKG-INFO may lack (or mark dynamic) its
  // dependencies, and pip would trust it instead of building the sdist.
  advertisesExtractedMetadata: (filename) => classifyFilename(filename) === 'wheel',
  rootIndexAccept: ROOT_INDEX_ACCEPT,
  createRootIndexParser,
  renderRootIndex,
  extractMetadata,
  readMetadataFile,
  versionFromFilename,
  compareVersions,
  sameVersion,
  isValidVersionSpecifier,
  versionSatisfies,
  isPrerelease,
  dependencyEnvironment,
};
