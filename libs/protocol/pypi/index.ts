/** Public API of the PyPI protocol implementation (pure functions, no I/O). */
export { createProjectPageParser, fileIdentity, isJsonContentType, parseProjectPage, pypiProtocol, PYPI_HTML_TYPE, PYPI_JSON_TYPE, PROJECT_PAGE_ACCEPT } from './adapter.js';
export { dependencyEnvironment, environmentFor, evaluateInEnvironment, parseEnvironmentQuery } from './dependency-environment.js';
export { extractMetadata, readMetadataFile, versionFromFilename } from './extract-metadata.js';
export { ACCEPTABLE_TYPES, negotiatePageFormat } from './negotiate-format.js';
export { compareVersions, sameVersion } from './versions.js';
export { DEFAULT_API_VERSION, effectiveApiVersion, hasPep700Data, parseApiVersion } from './api-version.js';
export { DEFAULT_MAX_METADATA_BYTES, parseCoreMetadata, type ParseCoreMetadataOptions } from './core-metadata.js';
export { MalformedPageError, MarkerError, MetadataError, RequirementError } from './errors.js';
export { MAX_METADATA_BYTES, MAX_REQUIREMENTS } from './metadata-bounds.js';
export {
  classifyFilename,
  isSafeFilename,
  MAX_FILENAME_LENGTH,
  parseSdistFilename,
  parseWheelFilename,
  sdistExtension,
  SDIST_EXTENSIONS,
  type DistributionKind,
  type SdistFilename,
  type WheelFilename,
} from './filenames.js';
export { normalizeHashes, parseHashPair, preferredHash } from './hashes.js';
export {
  activatingExtra,
  evaluateMarker,
  MARKER_VARIABLES,
  parseMarker,
  type EvaluateMarkerOptions,
  type MarkerEnvironment,
  type MarkerEvaluationEnvironment,
  type MarkerNode,
  type MarkerOperator,
  type MarkerValue,
  type MarkerVariable,
} from './markers.js';
export { isNormalized, isValidProjectName, MAX_PROJECT_NAME_LENGTH, normalizeExtra, normalizeName } from './names.js';
export { createProjectHtmlParser, parseProjectHtml, type ParseProjectHtmlOptions } from './parse-project-html.js';
export { createProjectJsonParser, parseProjectJson, type ParseProjectJsonOptions } from './parse-project-json.js';
export { renderProjectHtml, renderProjectHtmlChunks, type FileLinker } from './render-project-html.js';
export { renderProjectJson, renderProjectJsonChunks } from './render-project-json.js';
export { parseLegacyRequires, parseRequirement } from './requirements.js';
export {
  createRootIndexParser,
  parseRootIndexHtml,
  renderRootIndex,
  ROOT_INDEX_ACCEPT,
  parseRootIndexJson,
  renderRootIndexHtml,
  renderRootIndexJson,
  ROOT_CHUNK_SIZE,
} from './root-index.js';
