import type { Readable } from 'node:stream';
import { sdistStem } from './entry-names.js';
import { ArchiveError, UnsupportedArchiveError } from './errors.js';
import { resolveLimits, type ArchiveLimits } from './limits.js';
import { pkgInfoRank } from './pkg-info-path.js';
import type { RangeSource } from './range-source.js';
import type { MetadataFile } from './read-wheel-metadata.js';
import { scanTarForPkgInfo } from './sdist-tar.js';
import { openZipArchive, type ZipEntry } from './zip-directory.js';
import { readZipEntry } from './zip-entry.js';

/**
 * Reads an sdist's PKG-INFO: the top-level `<dir>/PKG-INFO`, or `<dir>/<pkg>.egg-info/PKG-INFO`
 * when there is none.
 *
 * - `.tar.gz`, `.tgz`, `.tar`: streamed from `open()` and stopped (the stream destroyed) as soon as
 *   the top-level PKG-INFO has been read.
 * - `.zip`: read by random access through `source`, which must then be given.
 * - `.tar.bz2`, `.tar.xz` and other formats: {@link UnsupportedArchiveError}, without opening.
 *
 * @throws ArchiveError for a corrupt, hostile or PKG-INFO-less archive.
 * @throws UnsupportedArchiveError for an archive format Orchard does not read.
 */
export async function readSdistPkgInfo(open: () => Promise<Readable>, filename: string, limits?: ArchiveLimits, source?: RangeSource): Promise<MetadataFile> {
  const lim = resolveLimits(limits);
  const format = sdistFormat(filename);
  switch (format) {
    case 'tar': {
      const stream = await open();
      try {
        return await scanTarForPkgInfo(stream, lim);
      } finally {
        stream.destroy();
      }
    }
    case 'zip': {
      if (!source) throw new TypeError('readSdistPkgInfo: a zip sdist needs a RangeSource');
      const zip = await openZipArchive(source, lim);
      const entry = pickPkgInfoEntry(zip.entries, filename);
      return { path: entry.name, bytes: await readZipEntry(zip, entry, lim, 'PKG-INFO') };
    }
    case 'bzip2':
    case 'xz':
    case 'zstd':
      throw new UnsupportedArchiveError(`${format}-compressed sdists are not supported`);
    case undefined:
      throw new UnsupportedArchiveError(`unsupported sdist format: ${filename}`);
  }
}

type SdistFormat = 'tar' | 'zip' | 'bzip2' | 'xz' | 'zstd' | undefined;

function sdistFormat(filename: string): SdistFormat {
  const lower = filename.toLowerCase();
  if (/\.(tar\.gz|tgz|tar)$/.test(lower)) return 'tar';
  if (lower.endsWith('.zip')) return 'zip';
  if (/\.(tar\.bz2|tbz2?)$/.test(lower)) return 'bzip2';
  if (/\.(tar\.xz|txz|tar\.lzma)$/.test(lower)) return 'xz';
  if (/\.(tar\.zst|tzst)$/.test(lower)) return 'zstd';
  return undefined;
}

/**
 * A zip's whole directory is at hand, so among several top-level PKG-INFO files the one under the
 * directory named like the filename wins; otherwise the first, as in a tar.
 */
function pickPkgInfoEntry(entries: ZipEntry[], filename: string): ZipEntry {
  const usable = entries.filter((e) => !e.isSymlink && !e.name.endsWith('/'));
  const top = usable.filter((e) => pkgInfoRank(e.name) === 0);
  const stem = sdistStem(filename).toLowerCase();
  const chosen = top.find((e) => e.name.toLowerCase() === `${stem}/pkg-info`) ?? top[0] ?? usable.find((e) => pkgInfoRank(e.name) === 1);
  if (!chosen) throw new ArchiveError('no PKG-INFO');
  return chosen;
}
