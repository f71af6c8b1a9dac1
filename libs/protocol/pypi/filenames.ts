/** Distribution filenames: safety checks, classification, wheel (PEP 427) and sdist parsing. */
import { normalizeName } from './names.js';

/** Longest filename accepted (common filesystem limit). */
export const MAX_FILENAME_LENGTH = 255;

/** What kind of distribution a filename names. */
export type DistributionKind = 'wheel' | 'sdist' | 'egg' | 'other';

/** Sdist extensions, longest first so `.tar.gz` wins over `.gz`-less matches. */
export const SDIST_EXTENSIONS = ['.tar.bz2', '.tar.gz', '.tar.xz', '.tar', '.tgz', '.zip'] as const;

// eslint-disable-next-line no-control-regex
const UNSAFE_CHARS = /[\u0000-\u001f\u007f/\\]/;

/**
 * True when `filename` is safe to use as one path segment: non-empty, at most
 * {@link MAX_FILENAME_LENGTH} characters, no `/`, `\`, NUL or control characters, no `..`.
 */
export function isSafeFilename(filename: string): boolean {
  return filename.length > 0 && filename.length <= MAX_FILENAME_LENGTH && !UNSAFE_CHARS.test(filename) && !filename.includes('..') && filename !== '.';
}

/** Classifies a filename by its extension (case-insensitive); `.exe`, `.msi`, `.rpm` etc. are `other`. */
export function classifyFilename(filename: string): DistributionKind {
  const lower = filename.toLowerCase();
  if (lower.endsWith('.whl')) return 'wheel';
  if (lower.endsWith('.egg')) return 'egg';
  if (sdistExtension(filename) !== undefined) return 'sdist';
  return 'other';
}

/** The sdist extension of `filename` as written in {@link SDIST_EXTENSIONS}, or undefined. */
export function sdistExtension(filename: string): string | undefined {
  const lower = filename.toLowerCase();
  return SDIST_EXTENSIONS.find((ext) => lower.endsWith(ext));
}

/** A parsed wheel filename. */
export interface WheelFilename {
  /** Distribution name as written (escaped, underscores). */
  name: string;
  normalizedName: string;
  version: string;
  /** Build tag, e.g. "1" or "2abc". */
  build?: string;
  pythonTags: string[];
  abiTags: string[];
  platformTags: string[];
  /** Every expanded `python-abi-platform` tag triple. */
  tags: string[];
}

/** Parses `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`; undefined when not a wheel name. */
export function parseWheelFilename(filename: string): WheelFilename | undefined {
  if (!filename.toLowerCase().endsWith('.whl') || !isSafeFilename(filename)) return undefined;
  const parts = filename.slice(0, -4).split('-');
  if (parts.length !== 5 && parts.length !== 6) return undefined;
  const [name, version] = parts as [string, string];
  const build = parts.length === 6 ? parts[2] : undefined;
  const [py, abi, plat] = parts.slice(-3) as [string, string, string];
  if (!/^[A-Za-z0-9._]+$/.test(name) || !/^[A-Za-z0-9._!+]+$/.test(version)) return undefined;
  if (build !== undefined && !/^\d[A-Za-z0-9._]*$/.test(build)) return undefined;
  if (![py, abi, plat].every((t) => /^[A-Za-z0-9._]+$/.test(t))) return undefined;
  const pythonTags = py.split('.');
  const abiTags = abi.split('.');
  const platformTags = plat.split('.');
  const tags: string[] = [];
  for (const p of pythonTags) for (const a of abiTags) for (const t of platformTags) tags.push(`${p}-${a}-${t}`);
  return {
    name,
    normalizedName: normalizeName(name),
    version,
    ...(build !== undefined ? { build } : {}),
    pythonTags,
    abiTags,
    platformTags,
    tags,
  };
}

/** A parsed sdist filename. */
export interface SdistFilename {
  name: string;
  normalizedName: string;
  version: string;
  extension: string;
}

/**
 * Splits an sdist filename into name and version. With `projectName`, the split is where the
 * normalised prefix equals the project's normalised name (pip's approach, handles `-` in names);
 * otherwise at the last `-` (packaging's `parse_sdist_filename`). Undefined when impossible.
 */
export function parseSdistFilename(filename: string, projectName?: string): SdistFilename | undefined {
  const extension = sdistExtension(filename);
  if (extension === undefined || !isSafeFilename(filename)) return undefined;
  const stem = filename.slice(0, -extension.length);
  let cut = -1;
  if (projectName !== undefined) {
    const wanted = normalizeName(projectName);
    for (let i = stem.indexOf('-'); i !== -1; i = stem.indexOf('-', i + 1)) {
      if (normalizeName(stem.slice(0, i)) === wanted) {
        cut = i;
        break;
      }
    }
  }
  if (cut === -1) cut = stem.lastIndexOf('-');
  if (cut <= 0 || cut === stem.length - 1) return undefined;
  const name = stem.slice(0, cut);
  return { name, normalizedName: normalizeName(name), version: stem.slice(cut + 1), extension };
}
