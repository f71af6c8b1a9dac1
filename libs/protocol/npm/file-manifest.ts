/** A file's version manifest, as the packument renderers write it. */
import type { ProjectFile, ProjectPage } from '../types.js';
import { isJsonObject, type JsonObject } from './json-values.js';
import { versionFromFilename } from './versions.js';

/** The version a file stands for: its packument key, else the one its name carries. */
export function fileVersion(file: ProjectFile): string | undefined {
  const version = file.extra?.['version'];
  return typeof version === 'string' ? version : versionFromFilename(file.filename);
}

/** A `dist` rebuilt from a file's hashes, for a file that kept no manifest. */
function distFromHashes(file: ProjectFile): JsonObject {
  const dist: JsonObject = {};
  const sha512 = file.hashes['sha512'];
  if (sha512 !== undefined) dist['integrity'] = `sha512-${Buffer.from(sha512, 'hex').toString('base64')}`;
  const sha1 = file.hashes['sha1'];
  if (sha1 !== undefined) dist['shasum'] = sha1;
  return dist;
}

/**
 * The manifest of a file's version with `dist.tarball` set to `tarball`: the upstream manifest
 * kept in `extra.manifest`, or a minimal one built from the file when there is none.
 */
export function manifestWithTarball(page: ProjectPage, file: ProjectFile, version: string, tarball: string): JsonObject {
  const kept = file.extra?.['manifest'];
  const manifest = isJsonObject(kept) ? kept : { name: page.name, version };
  const dist = isJsonObject(manifest['dist']) ? manifest['dist'] : distFromHashes(file);
  return { ...manifest, dist: { ...dist, tarball } };
}

/** The dist-tags that point at versions still served; other values pass through as they are. */
export function servedDistTags(distTags: unknown, served: ReadonlySet<string>): unknown {
  if (!isJsonObject(distTags)) return distTags;
  const kept: JsonObject = {};
  for (const [tag, version] of Object.entries(distTags)) {
    if (typeof version === 'string' && served.has(version) && tag !== '__proto__') kept[tag] = version;
  }
  return kept;
}
