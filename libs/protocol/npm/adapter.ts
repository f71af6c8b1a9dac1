/** The npm registry implementation of the protocol adapter contract. */
import type { PageLimits } from '../page-limits.js';
import type { ProjectPage, ProjectPageParser, ProtocolAdapter } from '../types.js';
import { dependencyEnvironment } from './dependency-environment.js';
import { extractMetadata, readMetadataFile } from './extract-metadata.js';
import { fileDigest, fileIdentity } from './file-digest.js';
import { NPM_JSON_TYPE, PROJECT_PAGE_ACCEPT } from './media-types.js';
import { isValidProjectName, normalizeName, projectPageUrl } from './names.js';
import { ACCEPTABLE_TYPES, negotiatePageFormat } from './negotiate-format.js';
import { createPackumentParser, parsePackument } from './parse-packument.js';
import { renderProject } from './render-packument.js';
import { createRootIndexParser, renderRootIndex } from './root-index.js';
import { compareVersions, isPrerelease, isValidVersionSpecifier, sameVersion, versionFromFilename, versionSatisfies } from './versions.js';

/** The npm protocol adapter (the content type of upstream packuments is not consulted: they are always JSON). */
export const npmProtocol: ProtocolAdapter = {
  name: 'npm',
  defaultUpstreams: 'npmjs=https://registry.npmjs.org/',
  configuration: { upstreamsVariable: 'ORCHARD_NPM_UPSTREAMS', prefixVariable: 'ORCHARD_NPM_PREFIX', defaultPrefix: '/npm' },
  normalizeName,
  isValidProjectName,
  projectPageUrl,
  projectPageAccept: PROJECT_PAGE_ACCEPT,
  parseProjectPage: (body: Buffer | string, _contentType: string | undefined, baseUrl: string): ProjectPage => parsePackument(body, baseUrl),
  createProjectPageParser: (_contentType: string | undefined, baseUrl: string, limits: PageLimits): ProjectPageParser => createPackumentParser(baseUrl, limits),
  negotiatePageFormat,
  acceptablePageTypes: ACCEPTABLE_TYPES,
  pageFormats: ['json', 'abbreviated'],
  renderProject,
  fileIdentity,
  fileDigest,
  pagePaths: 'registry',
  hasRootIndex: false,
  errorBody: (_status, message) => ({ contentType: NPM_JSON_TYPE, body: JSON.stringify({ error: message }) }),
  // A tarball's package.json is served inside the packument; there is no separate metadata file.
  advertisesExtractedMetadata: () => false,
  rootIndexAccept: '',
  createRootIndexParser,
  renderRootIndex,
  extractMetadata: (filename, source) => extractMetadata(filename, source),
  readMetadataFile,
  versionFromFilename,
  compareVersions,
  sameVersion,
  isValidVersionSpecifier,
  versionSatisfies,
  isPrerelease,
  dependencyEnvironment,
};
