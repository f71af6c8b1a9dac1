import { distributionNameVersion, normalizeProjectName, safeSegments, sameRelease } from './entry-names.js';
import { ArchiveError } from './errors.js';
import { resolveLimits, type ArchiveLimits } from './limits.js';
import type { RangeSource } from './range-source.js';
import { openZipArchive, type ZipEntry } from './zip-directory.js';
import { readZipEntry } from './zip-entry.js';

/** A core-metadata file found in a distribution: its member path and its exact bytes. */
export interface MetadataFile {
  path: string;
  bytes: Buffer;
}

/**
 * Reads a wheel's `<name>-<version>.dist-info/METADATA` by random access: the zip's tail, its
 * central directory and that one entry, nothing else.
 *
 * @param filename the wheel's filename, used to choose between several `.dist-info` directories.
 * @throws ArchiveError when the archive is not a zip, is corrupt or hostile, or has no METADATA.
 */
export async function readWheelMetadata(source: RangeSource, filename: string, limits?: ArchiveLimits): Promise<MetadataFile> {
  const lim = resolveLimits(limits);
  const zip = await openZipArchive(source, lim);
  const entry = pickMetadataEntry(zip.entries, filename);
  return { path: entry.name, bytes: await readZipEntry(zip, entry, lim, 'METADATA') };
}

/**
 * The single top-level `*.dist-info/METADATA`; among several, the one whose dist-info stem names
 * the wheel's release (then its project), compared after normalisation.
 */
function pickMetadataEntry(entries: ZipEntry[], filename: string): ZipEntry {
  const candidates = entries.filter((e) => !e.isSymlink && distInfoStem(e.name) !== undefined);
  if (candidates.length === 0) throw new ArchiveError('no .dist-info/METADATA');
  const names = new Set(candidates.map((e) => e.name));
  if (names.size !== candidates.length) throw new ArchiveError('duplicate .dist-info/METADATA entries');
  if (candidates.length === 1) return candidates[0]!;

  const wanted = distributionNameVersion(filename);
  const byRelease = wanted ? candidates.filter((e) => sameRelease(distInfoStem(e.name)!, wanted)) : [];
  if (byRelease.length === 1) return byRelease[0]!;
  const byName = wanted
    ? candidates.filter((e) => {
        const stem = distInfoStem(e.name)!;
        return normalizeProjectName(stem.slice(0, Math.max(stem.indexOf('-'), 0))) === normalizeProjectName(wanted.name);
      })
    : [];
  if (byName.length === 1) return byName[0]!;
  throw new ArchiveError('several .dist-info directories, none matching the filename');
}

/** `foo-1.0` for `foo-1.0.dist-info/METADATA`; undefined for anything else or an unsafe name. */
function distInfoStem(name: string): string | undefined {
  const segments = safeSegments(name);
  if (segments?.length !== 2 || segments[1] !== 'METADATA' || name !== segments.join('/')) return undefined;
  const dir = segments[0]!;
  return dir.endsWith('.dist-info') && dir.length > '.dist-info'.length ? dir.slice(0, -'.dist-info'.length) : undefined;
}
