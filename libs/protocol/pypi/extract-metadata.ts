/**
 * The adapter's metadata members: extraction with PyPI's archive and metadata errors turned into the
 * protocol-neutral {@link ArtifactMetadataError}, the PEP 658 file of a wheel, versions from names.
 */
import { ArtifactMetadataError } from '../errors.js';
import type { ArtifactSource, ExtractedMetadata } from '../types.js';
import { ArchiveError, readWheelMetadata, UnsupportedArchiveError, type RangeSource } from './archive/index.js';
import { MetadataError, RequirementError } from './errors.js';
import { parseSdistFilename, parseWheelFilename } from './filenames.js';
import { extractDistributionMetadata } from './read-distribution.js';

/**
 * A wheel's METADATA or an sdist's PKG-INFO, parsed with its requirements.
 * @throws ArtifactMetadataError `unsupported` for formats not read (eggs, .tar.bz2, installers),
 *   `failed` for broken or hostile archives and metadata
 */
export async function extractMetadata(filename: string, source: ArtifactSource): Promise<ExtractedMetadata> {
  try {
    return await extractDistributionMetadata(filename, source);
  } catch (err) {
    throw asArtifactMetadataError(err) ?? err;
  }
}

function asArtifactMetadataError(err: unknown): ArtifactMetadataError | undefined {
  if (err instanceof UnsupportedArchiveError) return new ArtifactMetadataError('unsupported', err.reason, { cause: err });
  if (err instanceof ArchiveError || err instanceof MetadataError) return new ArtifactMetadataError('failed', err.reason, { cause: err });
  if (err instanceof RequirementError) return new ArtifactMetadataError('failed', err.message, { cause: err });
  return undefined;
}

/** The wheel's own `.dist-info/METADATA` (its PEP 658 file), by random access. */
export async function readMetadataFile(filename: string, source: RangeSource): Promise<Buffer> {
  return (await readWheelMetadata(source, filename)).bytes;
}

/** The version in a wheel's or an sdist's file name. */
export function versionFromFilename(filename: string): string | undefined {
  return parseWheelFilename(filename)?.version ?? parseSdistFilename(filename)?.version;
}
