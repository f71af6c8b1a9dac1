import { MAX_METADATA_BYTES } from '../metadata-bounds.js';

/** Bounds applied to untrusted archives. Every field is optional; defaults below. */
export interface ArchiveLimits {
  /** Largest METADATA / PKG-INFO accepted, uncompressed. Default {@link MAX_METADATA_BYTES} (4 MiB). */
  maxMetadataBytes?: number;
  /** Largest zip central directory read. Default 64 MiB. */
  maxCentralDirectoryBytes?: number;
  /** Most zip central-directory entries or tar entries examined. Default 1,000,000. */
  maxEntries?: number;
  /** Highest uncompressed:compressed ratio accepted for a zip entry. Default 200. */
  maxCompressionRatio?: number;
  /** Most decompressed tar bytes read while looking for PKG-INFO. Default 512 MiB. */
  maxDecompressedBytes?: number;
}

/** The defaults used for any limit not given. */
export const DEFAULT_ARCHIVE_LIMITS: Readonly<Required<ArchiveLimits>> = Object.freeze({
  maxMetadataBytes: MAX_METADATA_BYTES,
  maxCentralDirectoryBytes: 64 * 1024 * 1024,
  maxEntries: 1_000_000,
  maxCompressionRatio: 200,
  maxDecompressedBytes: 512 * 1024 * 1024,
});

/** Fills in defaults. */
export function resolveLimits(limits: ArchiveLimits | undefined): Required<ArchiveLimits> {
  return { ...DEFAULT_ARCHIVE_LIMITS, ...stripUndefined(limits ?? {}) };
}

/** "10 MiB", "512 KiB" or "1234 bytes", for error reasons. */
export function formatBytes(n: number): string {
  for (const [unit, size] of [
    ['GiB', 2 ** 30],
    ['MiB', 2 ** 20],
    ['KiB', 2 ** 10],
  ] as const) {
    if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  }
  return `${n} bytes`;
}

function stripUndefined(o: ArchiveLimits): ArchiveLimits {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
