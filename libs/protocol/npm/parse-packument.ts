/** An upstream packument (the full package document) → ProjectPage, one file per version. */
import semver from 'semver';
import { MalformedPageError } from '../errors.js';
import { PageLimitError, type PageLimits } from '../page-limits.js';
import type { ProjectFile, ProjectPage, ProjectPageParser } from '../types.js';
import { distHashes } from './file-digest.js';
import { boundedBody, checkDepth } from '../json-passthrough.js';
import { isJsonObject, type JsonObject } from './json-values.js';
import { isValidProjectName, unscopedName } from './names.js';

/** Versions mapped between two steps of the parser's `end()`. */
const VERSIONS_PER_STEP = 500;

/** No bounds: for callers that parse a body they already hold (tests, tools). */
export const UNLIMITED: PageLimits = { maxBytes: Infinity, maxFiles: Infinity };

/** What a version's ProjectFile keeps in `extra`, so the manifest can be rendered again exactly. */
export interface NpmFileExtra {
  /** The version's key in the packument's `versions`. */
  version: string;
  /** The whole version manifest as the upstream sent it. */
  manifest: JsonObject;
}

const decoder = new TextDecoder('utf-8');

function parseJson(body: Buffer): unknown {
  const text = decoder.decode(body);
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (err) {
    throw new MalformedPageError(`invalid JSON: ${(err as Error).message}`);
  }
}

function parseBaseUrl(baseUrl: string): URL {
  try {
    return new URL(baseUrl);
  } catch {
    throw new MalformedPageError(`invalid base URL ${JSON.stringify(baseUrl)}`);
  }
}

/** The absolute http(s) URL of a tarball, or undefined when it has none Orchard could fetch. */
function tarballUrl(dist: JsonObject, base: URL): string | undefined {
  const href = dist['tarball'];
  if (typeof href !== 'string') return undefined;
  let url: URL;
  try {
    url = new URL(href.trim(), base);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  url.hash = '';
  return url.href;
}

/**
 * One version's file; undefined (skipped, not fatal) when the key is not semver, the manifest is
 * not an object, or it names no fetchable tarball.
 */
function versionFile(version: string, manifest: unknown, tarballName: string, time: JsonObject | undefined, base: URL): ProjectFile | undefined {
  if (semver.valid(version) === null || !isJsonObject(manifest)) return undefined;
  const dist = manifest['dist'];
  if (!isJsonObject(dist)) return undefined;
  const url = tarballUrl(dist, base);
  if (url === undefined) return undefined;
  checkDepth(manifest, `versions[${JSON.stringify(version)}]`);
  const extra = { version, manifest } satisfies NpmFileExtra;
  const file: ProjectFile = { filename: `${tarballName}-${version}.tgz`, url, hashes: distHashes(dist), extra };
  const uploadTime = time?.[version];
  if (typeof uploadTime === 'string') file.uploadTime = uploadTime;
  return file;
}

/** The top-level keys other than `versions`, passed through unchanged (`__proto__` never copied). */
function topLevelExtra(doc: JsonObject): JsonObject {
  const extra: JsonObject = {};
  for (const [key, value] of Object.entries(doc)) {
    if (key !== 'versions' && key !== '__proto__') extra[key] = value;
  }
  checkDepth(extra, 'the packument');
  return extra;
}

/**
 * An incremental packument parser: the body is collected up to `limits.maxBytes` (JSON is parsed
 * whole, so the bytes bound what one JSON.parse costs), then `end()` parses it and maps the
 * versions in steps, refusing more than `limits.maxFiles` versions.
 */
export function createPackumentParser(baseUrl: string, limits: PageLimits): ProjectPageParser {
  const base = parseBaseUrl(baseUrl);
  const body = boundedBody(limits);
  return {
    write: body.write,
    *end() {
      const doc = parseJson(body.take());
      yield;
      if (!isJsonObject(doc)) throw new MalformedPageError('the packument is not a JSON object');
      const name = doc['name'];
      if (typeof name !== 'string') throw new MalformedPageError('the packument has no name');
      if (!isValidProjectName(name)) throw new MalformedPageError(`${JSON.stringify(name.slice(0, 250))} is not a valid npm package name`);
      const rawVersions = doc['versions'];
      const time = isJsonObject(doc['time']) ? doc['time'] : undefined;
      // A package whose every version was unpublished: the registry answers its name, `time` (with
      // `unpublished`) and no versions; served as such (npm then reports it unpublished).
      const unpublished = rawVersions === undefined && time !== undefined && time['unpublished'] !== undefined;
      if (!isJsonObject(rawVersions) && !unpublished) throw new MalformedPageError('the packument has no versions object');
      const entries = isJsonObject(rawVersions) ? Object.entries(rawVersions) : [];
      if (entries.length > limits.maxFiles) throw new PageLimitError('maxFiles', limits.maxFiles);

      const tarballName = unscopedName(name);
      const files: ProjectFile[] = [];
      const versions: string[] = [];
      for (let i = 0; i < entries.length; i++) {
        const [version, manifest] = entries[i]!;
        const file = versionFile(version, manifest, tarballName, time, base);
        if (file) {
          files.push(file);
          versions.push(version);
        }
        if (i % VERSIONS_PER_STEP === VERSIONS_PER_STEP - 1) yield;
      }
      return { name, meta: { 'api-version': '1.0' }, versions, files, extra: topLevelExtra(doc) };
    },
  };
}

/**
 * Parses a whole packument already in hand (see {@link createPackumentParser}).
 * @throws {MalformedPageError} on invalid JSON, a non-object, a missing or invalid name, no versions object
 */
export function parsePackument(body: Buffer | string, baseUrl: string, limits: PageLimits = UNLIMITED): ProjectPage {
  const parser = createPackumentParser(baseUrl, limits);
  parser.write(typeof body === 'string' ? Buffer.from(body) : body);
  const steps = parser.end();
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}
