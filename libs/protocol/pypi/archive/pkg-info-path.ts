import { safeSegments } from './entry-names.js';

/**
 * How good a member path is as an sdist's PKG-INFO: 0 for the top-level `<dir>/PKG-INFO`, 1 for
 * the fallback `<dir>/<pkg>.egg-info/PKG-INFO`, undefined for anything else (including unsafe
 * names, and PKG-INFO files deeper in the tree such as vendored packages').
 */
export function pkgInfoRank(path: string): 0 | 1 | undefined {
  const segments = safeSegments(path);
  if (!segments || segments[segments.length - 1] !== 'PKG-INFO') return undefined;
  if (segments.length === 2) return 0;
  if (segments.length === 3 && segments[1]!.endsWith('.egg-info')) return 1;
  return undefined;
}
