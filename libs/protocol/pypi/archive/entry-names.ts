import { normalizeName as normalizeProjectName } from '../names.js';

export { normalizeProjectName };

/**
 * Archive member names as the lookup sees them. Hostile names are ignored rather than resolved, so
 * `a/../x.dist-info/METADATA` can never stand in for the real one.
 */

/**
 * Splits a member name into segments, or returns undefined when the name is unsafe: absolute
 * (`/x`, `C:x`), containing a backslash or NUL, or with a `..` segment. Leading `./` segments are
 * dropped (some tar writers emit them); empty segments from `//` or a trailing `/` are dropped.
 */
export function safeSegments(name: string): string[] | undefined {
  if (name === '' || name.startsWith('/') || /^[A-Za-z]:/.test(name)) return undefined;
  if (name.includes('\\') || name.includes('\0')) return undefined;
  const segments = name.split('/');
  if (segments.includes('..')) return undefined;
  const kept = segments.filter((s) => s !== '' && s !== '.');
  return kept.length > 0 ? kept : undefined;
}

/**
 * Name and version from a distribution filename: `name-version-…` for wheels (whose name part
 * never contains `-`), `name-version.tar.gz`/`.zip` for sdists (split at the last `-`).
 */
export function distributionNameVersion(filename: string): { name: string; version: string } | undefined {
  const base = filename.split('/').pop() ?? filename;
  if (base.toLowerCase().endsWith('.whl')) {
    const [name, version] = base.slice(0, -4).split('-');
    return name && version ? { name, version } : undefined;
  }
  const stem = sdistStem(base);
  const dash = stem.lastIndexOf('-');
  return dash > 0 ? { name: stem.slice(0, dash), version: stem.slice(dash + 1) } : undefined;
}

/** The filename without its archive extension(s): `foo-1.0.tar.gz` → `foo-1.0`. */
export function sdistStem(filename: string): string {
  return filename.replace(/\.(tar\.gz|tgz|tar\.bz2|tbz2?|tar\.xz|txz|tar\.zst|tar|zip)$/i, '');
}

/** Whether a `name-version` dist-info / egg-info stem names the same release as `wanted`. */
export function sameRelease(stem: string, wanted: { name: string; version: string }): boolean {
  const dash = stem.indexOf('-');
  if (dash <= 0) return false;
  return normalizeProjectName(stem.slice(0, dash)) === normalizeProjectName(wanted.name) && stem.slice(dash + 1).toLowerCase() === wanted.version.toLowerCase().replace(/-/g, '_');
}
