/** PEP 629 / 691 repository API versions. */
import { MalformedPageError } from './errors.js';
import type { ProjectPage } from '../types.js';

/** The api-version assumed when a page does not declare one. */
export const DEFAULT_API_VERSION = '1.0';

/** Parses "major.minor"; undefined when not of that form. */
export function parseApiVersion(version: string): { major: number; minor: number } | undefined {
  const m = /^\s*(\d+)\.(\d+)\s*$/.exec(version);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]) };
}

/**
 * Checks a declared api-version: clients must refuse an unknown major version (PEP 629), so does
 * Orchard rather than cache a page it cannot interpret. Returns the trimmed version.
 */
export function checkApiVersion(version: string): string {
  const parsed = parseApiVersion(version);
  if (!parsed) throw new MalformedPageError(`invalid api-version ${JSON.stringify(version)}`);
  if (parsed.major !== 1) throw new MalformedPageError(`unsupported api-version ${version}`);
  return version.trim();
}

/** True when the page carries PEP 700 data (versions, size or upload-time). */
export function hasPep700Data(page: ProjectPage): boolean {
  return page.versions !== undefined || page.files.some((f) => f.size !== undefined || f.uploadTime !== undefined);
}

/** The page's api-version, raised to 1.1 when it carries PEP 700 data but declares 1.0. */
export function effectiveApiVersion(page: ProjectPage): string {
  const declared = page.meta['api-version'];
  if (!hasPep700Data(page)) return declared;
  const parsed = parseApiVersion(declared);
  if (parsed && parsed.major === 1 && parsed.minor < 1) return '1.1';
  return declared;
}
