/** npm versions and ranges (semver), and the version in a tarball's file name. */
import semver from 'semver';

function byString(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A total order: semver order (build metadata breaking ties), then spelling; invalid versions after
 * valid ones, ordered by spelling.
 */
export function compareVersions(a: string, b: string): number {
  const validA = semver.valid(a) !== null;
  const validB = semver.valid(b) !== null;
  if (validA && validB) return semver.compareBuild(a, b) || byString(a, b);
  if (validA !== validB) return validA ? -1 : 1;
  return byString(a, b);
}

/** Whether two versions are the same semver version; invalid ones only equal themselves. */
export function sameVersion(a: string, b: string): boolean {
  return semver.valid(a) !== null && semver.valid(b) !== null ? semver.eq(a, b) : a === b;
}

/** Whether a string is a semver range (`^1.2.0`, `>=1 <2`, `1.x`, `*`). */
export function isValidVersionSpecifier(specifier: string): boolean {
  return semver.validRange(specifier) !== null;
}

/** Whether a version is in a range, pre-releases judged like any version. */
export function versionSatisfies(version: string, specifier: string): boolean {
  return semver.satisfies(version, specifier, { includePrerelease: true });
}

/** Whether a valid version has a pre-release part (`1.0.0-beta.1`). */
export function isPrerelease(version: string): boolean {
  return semver.valid(version) !== null && (semver.prerelease(version)?.length ?? 0) > 0;
}

/**
 * The version in a tarball name `<name>-<version>.tgz`: the text after the first `-` that is
 * followed by a valid semver version up to `.tgz` (names may contain `-`, versions too).
 */
export function versionFromFilename(filename: string): string | undefined {
  if (!filename.endsWith('.tgz')) return undefined;
  const stem = filename.slice(0, -'.tgz'.length);
  for (let dash = stem.indexOf('-'); dash > 0; dash = stem.indexOf('-', dash + 1)) {
    const candidate = stem.slice(dash + 1);
    // semver also takes a leading `v` or `=`, which npm never puts in a tarball name.
    if (/^\d/.test(candidate) && semver.valid(candidate) !== null) return candidate;
  }
  return undefined;
}
