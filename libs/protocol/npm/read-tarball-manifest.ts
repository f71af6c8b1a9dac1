/** Reading a package's package.json out of its tarball stream, bounded against hostile archives. */
import type { Readable, Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { ArtifactMetadataError } from '../errors.js';

/** Bounds on the work one tarball may cost. */
export interface TarballBounds {
  /** Largest package.json read. */
  maxManifestBytes: number;
  /** Most archive entries looked at before package.json. */
  maxEntries: number;
  /** Most decompressed bytes read before package.json. */
  maxInflatedBytes: number;
}

/**
 * Far beyond real packages (the registry refuses a package.json over a few hundred KiB; typescript,
 * among the largest tarballs, has a few hundred entries and ~25 MiB unpacked), cheap to reach.
 */
export const DEFAULT_TARBALL_BOUNDS: TarballBounds = {
  maxManifestBytes: 1024 * 1024,
  maxEntries: 100_000,
  maxInflatedBytes: 512 * 1024 * 1024,
};

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

function failed(reason: string, cause?: unknown): ArtifactMetadataError {
  return new ArtifactMetadataError('failed', reason, cause === undefined ? undefined : { cause });
}

/**
 * The bytes of the package.json at depth one of a gzipped tarball: `package/package.json`, or
 * `<dir>/package.json` for the archive's first top-level directory (npm strips whichever directory
 * there is). Reading stops, and the streams are destroyed, as soon as it is found.
 * @throws ArtifactMetadataError for a corrupt or non-gzip stream, a corrupt tar, no package.json,
 *   one larger than the bound, or an archive past the entry or decompressed-size bound; an error of
 *   `input` itself (a storage failure) is passed on as it is
 */
export function readTarballManifest(input: Readable, bounds: TarballBounds = DEFAULT_TARBALL_BOUNDS): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const gunzip = createGunzip();
    const parser = new Parser({ strict: true });
    let settled = false;
    let entries = 0;
    let inflated = 0;
    let topDirectory: string | undefined;

    const finish = (error: Error | undefined, manifest?: Buffer): void => {
      if (settled) return;
      settled = true;
      input.unpipe(gunzip);
      gunzip.unpipe();
      input.destroy();
      gunzip.destroy();
      if (error) reject(error);
      else resolve(manifest!);
    };

    const readManifest = (entry: ReadEntry): void => {
      if (entry.size > bounds.maxManifestBytes) {
        finish(failed(`${entry.path} is ${entry.size} bytes, more than ${bounds.maxManifestBytes}`));
        return;
      }
      const chunks: Buffer[] = [];
      entry.on('data', (chunk: Buffer) => chunks.push(chunk));
      entry.on('end', () => finish(undefined, Buffer.concat(chunks)));
    };

    parser.on('entry', (entry: ReadEntry) => {
      if (settled) {
        entry.resume();
        return;
      }
      if (++entries > bounds.maxEntries) {
        entry.resume();
        finish(failed(`no package.json among the first ${bounds.maxEntries} entries`));
        return;
      }
      const parts = entry.path.replace(/^(\.\/)+/, '').split('/');
      topDirectory ??= parts[0];
      const isManifest = parts.length === 2 && parts[1] === 'package.json' && (parts[0] === 'package' || parts[0] === topDirectory);
      if (isManifest && FILE_TYPES.has(entry.type)) readManifest(entry);
      else entry.resume();
    });
    parser.on('error', (err: Error) => finish(failed(`corrupt tar archive: ${err.message}`, err)));
    parser.on('end', () => finish(failed('the tarball has no package.json')));

    gunzip.on('data', (chunk: Buffer) => {
      inflated += chunk.length;
      if (inflated > bounds.maxInflatedBytes) finish(failed(`no package.json in the first ${bounds.maxInflatedBytes} decompressed bytes`));
    });
    gunzip.on('error', (err: Error) => finish(failed(`not a valid gzip stream: ${err.message}`, err)));
    input.on('error', (err: Error) => finish(err));

    // tar's Parser is a writable in all but type: it takes write/end and emits drain.
    input.pipe(gunzip).pipe(parser as unknown as Writable);
  });
}
