/** Public API of the npm protocol implementation (pure functions, no I/O but reading a tarball stream). */
export { npmProtocol } from './adapter.js';
export { NPM_ABBREVIATED_TYPE, NPM_JSON_TYPE, PROJECT_PAGE_ACCEPT } from './media-types.js';
export { isValidProjectName, MAX_NAME_LENGTH, normalizeName, projectPageUrl, unscopedName } from './names.js';
export { distHashes, fileDigest, fileIdentity } from './file-digest.js';
export { createPackumentParser, parsePackument, type NpmFileExtra } from './parse-packument.js';
export { renderAbbreviatedPackument, renderFullPackument, renderProject } from './render-packument.js';
export { ABBREVIATED_DIST_FIELDS, ABBREVIATED_VERSION_FIELDS, abbreviatedManifest } from './abbreviated-manifest.js';
export { ACCEPTABLE_TYPES, negotiatePageFormat } from './negotiate-format.js';
export { compareVersions, isPrerelease, isValidVersionSpecifier, sameVersion, versionFromFilename, versionSatisfies } from './versions.js';
export { dependencyEnvironment } from './dependency-environment.js';
export { extractMetadata } from './extract-metadata.js';
export { DEFAULT_TARBALL_BOUNDS, readTarballManifest, type TarballBounds } from './read-tarball-manifest.js';
export { isDirectSpec, manifestRequirements, MAX_REQUIREMENTS } from './requirements.js';
