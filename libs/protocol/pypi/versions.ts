/** PEP 440 version order and equality, total over any strings (stored versions need not be valid). */
import { compare, eq, parse, satisfies, valid, validRange } from '@renovatebot/pep440';

/** PEP 440 order where both are valid versions, invalid after valid; a total order (text breaks ties). */
export function compareVersions(a: string, b: string): number {
  const va = valid(a) !== null;
  const vb = valid(b) !== null;
  if (va && vb) return compare(a, b) || byText(a, b);
  if (va !== vb) return va ? -1 : 1;
  return byText(a, b);
}

/** Equal as PEP 440 versions (`1.0` = `1.0.0`), or as text when either is not a valid version. */
export function sameVersion(a: string, b: string): boolean {
  if (a === b) return true;
  return valid(a) !== null && valid(b) !== null && eq(a, b);
}

/** Code-point order, as PostgreSQL's "C" collation: the same answer whatever the server's locale. */
function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether `specifier` is a PEP 440 version specifier (`==1.0`, `>=1,<2`, `!=2.0`). */
export function isValidVersionSpecifier(specifier: string): boolean {
  return specifier.trim() !== '' && validRange(specifier);
}

/**
 * Whether a version meets a PEP 440 specifier; pre-releases are judged like any version (whether
 * they are wanted at all is a rule of its own). An invalid version meets none.
 */
export function versionSatisfies(version: string, specifier: string): boolean {
  return valid(version) !== null && satisfies(version, specifier, { prereleases: true });
}

/** Whether a version is a PEP 440 pre-release or development release. */
export function isPrerelease(version: string): boolean {
  const parsed = parse(version);
  return parsed !== null && (parsed.pre !== null || parsed.dev !== null);
}
