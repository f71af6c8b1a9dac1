/** ProjectPage → the full packument and the abbreviated one, in chunks. */
import type { PageFormat, ProjectFile, ProjectPage } from '../types.js';
import { abbreviatedManifest } from './abbreviated-manifest.js';
import { fileVersion, manifestWithTarball, servedDistTags } from './file-manifest.js';
import { isJsonObject, type JsonObject } from './json-values.js';

/** Versions written between two chunks. */
export const VERSIONS_PER_CHUNK = 200;

type FileLinker = (file: ProjectFile) => string;

interface ServedVersion {
  version: string;
  file: ProjectFile;
}

/** The files with a version, first one per version (the caller has already dropped unverifiable ones). */
function servedVersions(page: ProjectPage): ServedVersion[] {
  const seen = new Set<string>();
  const served: ServedVersion[] = [];
  for (const file of page.files) {
    const version = fileVersion(file);
    if (version === undefined || seen.has(version)) continue;
    seen.add(version);
    served.push({ version, file });
  }
  return served;
}

function* versionsObject(served: ServedVersion[], manifest: (entry: ServedVersion) => JsonObject): Generator<string, void, undefined> {
  let out = '"versions":{';
  for (let i = 0; i < served.length; i++) {
    const entry = served[i]!;
    out += (i === 0 ? '' : ',') + JSON.stringify(entry.version) + ':' + JSON.stringify(manifest(entry));
    if (i % VERSIONS_PER_CHUNK === VERSIONS_PER_CHUNK - 1) {
      yield out;
      out = '';
    }
  }
  yield out + '}';
}

/**
 * The full packument: `name`, every kept top-level key (`dist-tags` limited to served versions,
 * `time` as the upstream sent it), and each served version's whole manifest with its tarball URL
 * replaced by `link(file)`.
 */
export function* renderFullPackument(page: ProjectPage, link: FileLinker): Generator<string, void, undefined> {
  const served = servedVersions(page);
  const servedSet = new Set(served.map((s) => s.version));
  let head = '{"name":' + JSON.stringify(page.name);
  for (const [key, value] of Object.entries(page.extra ?? {})) {
    if (key === 'name' || key === 'versions' || value === undefined) continue;
    head += ',' + JSON.stringify(key) + ':' + JSON.stringify(key === 'dist-tags' ? servedDistTags(value, servedSet) : value);
  }
  yield head + ',';
  yield* versionsObject(served, ({ version, file }) => manifestWithTarball(page, file, version, link(file)));
  yield '}';
}

/** The packument's last modification: `time.modified`, else a top-level `modified`. */
function modified(page: ProjectPage): string | undefined {
  const time = page.extra?.['time'];
  const fromTime = isJsonObject(time) ? time['modified'] : undefined;
  if (typeof fromTime === 'string') return fromTime;
  const topLevel = page.extra?.['modified'];
  return typeof topLevel === 'string' ? topLevel : undefined;
}

/**
 * The abbreviated packument (`application/vnd.npm.install-v1+json`): `name`, `modified`,
 * `dist-tags` limited to served versions, and per version only the fields installing needs.
 */
export function* renderAbbreviatedPackument(page: ProjectPage, link: FileLinker): Generator<string, void, undefined> {
  const served = servedVersions(page);
  const servedSet = new Set(served.map((s) => s.version));
  let head = '{"name":' + JSON.stringify(page.name);
  const lastModified = modified(page);
  if (lastModified !== undefined) head += ',"modified":' + JSON.stringify(lastModified);
  const distTags = page.extra?.['dist-tags'];
  if (distTags !== undefined) head += ',"dist-tags":' + JSON.stringify(servedDistTags(distTags, servedSet));
  yield head + ',';
  yield* versionsObject(served, ({ version, file }) => abbreviatedManifest(manifestWithTarball(page, file, version, link(file))));
  yield '}';
}

/** Renders a page in one of npm's formats (see {@link renderFullPackument}, {@link renderAbbreviatedPackument}). */
export function renderProject(format: PageFormat, page: ProjectPage, link: FileLinker): Iterable<string> {
  switch (format) {
    case 'json':
      return renderFullPackument(page, link);
    case 'abbreviated':
      return renderAbbreviatedPackument(page, link);
    case 'html':
      throw new Error('npm pages have no html format');
  }
}
