/** Locating and reading the core-metadata file of a distribution (wheel or sdist), unparsed. */
export { ArchiveError, UnsupportedArchiveError } from './errors.js';
export { DEFAULT_ARCHIVE_LIMITS, type ArchiveLimits } from './limits.js';
export { bufferRangeSource, countingRangeSource, type CountingRangeSource, type RangeSource } from './range-source.js';
export { readSdistPkgInfo } from './read-sdist-metadata.js';
export { readWheelMetadata, type MetadataFile } from './read-wheel-metadata.js';
