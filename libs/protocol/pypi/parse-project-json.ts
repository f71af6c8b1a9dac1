/** PEP 691 (+ 700, 714) project page JSON → ProjectPage. */
import type { ProjectFile, ProjectPage, ProjectPageParser } from '../types.js';
import { checkApiVersion, DEFAULT_API_VERSION } from './api-version.js';
import { bodyText, lastPathSegment, resolveHttpUrl } from './body-text.js';
import { MalformedPageError } from './errors.js';
import { isSafeFilename } from './filenames.js';
import { normalizeHashes, parseHashPair } from './hashes.js';
import { parseBaseUrl } from './base-url.js';
import { PageLimitError, type PageLimits } from '../page-limits.js';
import { parseWholeBody, UNLIMITED } from './page-steps.js';
import { boundedBody, checkDepth } from '../json-passthrough.js';

/** Options for {@link parseProjectJson}. */
export interface ParseProjectJsonOptions {
  /** Name to use when the page has no `name` (PEP 691 requires one; some indexes omit it). */
  name?: string;
}

/** File keys this module understands; everything else goes to `extra`. */
export const KNOWN_FILE_KEYS = new Set([
  'filename',
  'url',
  'hashes',
  'requires-python',
  'yanked',
  'core-metadata',
  'dist-info-metadata',
  'data-dist-info-metadata',
  'gpg-sig',
  'size',
  'upload-time',
]);

/** Top-level keys this module understands; everything else goes to `extra`. */
export const KNOWN_PAGE_KEYS = new Set(['meta', 'name', 'files', 'versions']);

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringRecord(value: unknown, what: string): Record<string, string> {
  if (!isObject(value)) throw new MalformedPageError(`${what} is not an object`);
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new MalformedPageError(`${what}.${k} is not a string`);
  }
  return normalizeHashes(value as Record<string, string>);
}

function coreMetadataValue(value: unknown, where: string): ProjectFile['coreMetadata'] {
  if (value === undefined || value === null || value === false) return undefined;
  if (value === true) return true;
  const hashes = stringRecord(value, `${where}.core-metadata`);
  return Object.keys(hashes).length > 0 ? hashes : true;
}

function parseFile(entry: unknown, index: number, base: URL): ProjectFile | undefined {
  const where = `files[${index}]`;
  if (!isObject(entry)) throw new MalformedPageError(`${where} is not an object`);
  const { filename, url: href } = entry;
  if (typeof filename !== 'string') throw new MalformedPageError(`${where}.filename is not a string`);
  if (typeof href !== 'string') throw new MalformedPageError(`${where}.url is not a string`);
  // Unsafe names and non-http(s) links are dropped, as in HTML pages: they could never be served.
  const url = resolveHttpUrl(href, base);
  if (!url || !isSafeFilename(filename)) return undefined;

  const hashes = entry['hashes'] === undefined ? {} : stringRecord(entry['hashes'], `${where}.hashes`);
  const fragment = url.hash.length > 1 ? parseHashPair(url.hash.slice(1)) : undefined;
  if (fragment && hashes[fragment.name] === undefined) hashes[fragment.name] = fragment.digest;
  url.hash = '';
  const file: ProjectFile = { filename, url: url.href, hashes };

  const requiresPython = entry['requires-python'];
  if (requiresPython !== undefined && requiresPython !== null) {
    if (typeof requiresPython !== 'string') throw new MalformedPageError(`${where}.requires-python is not a string`);
    if (requiresPython.trim() !== '') file.requiresPython = requiresPython;
  }
  const yanked = entry['yanked'];
  if (yanked !== undefined && yanked !== null) {
    if (typeof yanked !== 'boolean' && typeof yanked !== 'string') {
      throw new MalformedPageError(`${where}.yanked is not a boolean or string`);
    }
    file.yanked = yanked === '' ? true : yanked;
  }
  // PEP 714: `core-metadata` wins; the older names are read only when it is absent.
  const metadataKey = ['core-metadata', 'dist-info-metadata', 'data-dist-info-metadata'].find((k) => entry[k] !== undefined);
  if (metadataKey !== undefined) {
    const coreMetadata = coreMetadataValue(entry[metadataKey], where);
    if (coreMetadata !== undefined) file.coreMetadata = coreMetadata;
  }
  const gpgSig = entry['gpg-sig'];
  if (gpgSig !== undefined && gpgSig !== null) {
    if (typeof gpgSig !== 'boolean') throw new MalformedPageError(`${where}.gpg-sig is not a boolean`);
    file.gpgSig = gpgSig;
  }
  const size = entry['size'];
  if (size !== undefined && size !== null) {
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw new MalformedPageError(`${where}.size is not a non-negative integer`);
    }
    file.size = size;
  }
  const uploadTime = entry['upload-time'];
  if (uploadTime !== undefined && uploadTime !== null) {
    if (typeof uploadTime !== 'string') throw new MalformedPageError(`${where}.upload-time is not a string`);
    file.uploadTime = uploadTime;
  }
  const extra = unknownKeys(entry, KNOWN_FILE_KEYS, where);
  if (extra) file.extra = extra;
  return file;
}

/** Files checked between two steps of {@link createProjectJsonParser}'s `end()`. */
const FILES_PER_STEP = 500;

/**
 * The keys of `object` not in `known`, to pass through unchanged, or undefined when there are none.
 * `__proto__` is never copied (assigning it would replace the result's prototype).
 * @throws {MalformedPageError} when they nest deeper than MAX_PASSTHROUGH_DEPTH (json-passthrough.ts)
 */
function unknownKeys(object: Json, known: ReadonlySet<string>, where: string): Json | undefined {
  const extra: Json = {};
  let hasExtra = false;
  for (const [k, v] of Object.entries(object)) {
    if (!known.has(k) && k !== '__proto__') {
      extra[k] = v;
      hasExtra = true;
    }
  }
  if (!hasExtra) return undefined;
  checkDepth(extra, where);
  return extra;
}

/**
 * An incremental PEP 691 JSON project page parser: the body is collected up to `limits.maxBytes`
 * (there is no incremental JSON parser here, so the bytes bound what one JSON.parse costs), then
 * `end()` parses it and checks the files in steps, refusing more than `limits.maxFiles`.
 */
export function createProjectJsonParser(baseUrl: string, limits: PageLimits, options: ParseProjectJsonOptions = {}): ProjectPageParser {
  const pageUrl = parseBaseUrl(baseUrl);
  const body = boundedBody(limits);
  return {
    write: body.write,
    *end() {
      let doc: unknown;
      try {
        doc = JSON.parse(bodyText(body.take()));
      } catch {
        throw new MalformedPageError('invalid JSON');
      }
      yield;
      if (!isObject(doc)) throw new MalformedPageError('top level is not an object');

      const rawMeta = doc['meta'] ?? {};
      if (!isObject(rawMeta)) throw new MalformedPageError('meta is not an object');
      checkDepth(rawMeta, 'meta');
      const rawVersion = rawMeta['api-version'] ?? DEFAULT_API_VERSION;
      if (typeof rawVersion !== 'string') throw new MalformedPageError('meta.api-version is not a string');
      const meta = { ...rawMeta, 'api-version': checkApiVersion(rawVersion) };

      const name = doc['name'] ?? options.name ?? lastPathSegment(pageUrl);
      if (typeof name !== 'string') throw new MalformedPageError('name is not a string');

      const rawFiles = doc['files'];
      if (!Array.isArray(rawFiles)) throw new MalformedPageError('files is not an array');
      if (rawFiles.length > limits.maxFiles) throw new PageLimitError('maxFiles', limits.maxFiles);
      const files: ProjectFile[] = [];
      for (let i = 0; i < rawFiles.length; i++) {
        const file = parseFile(rawFiles[i], i, pageUrl);
        if (file) files.push(file);
        if (i % FILES_PER_STEP === FILES_PER_STEP - 1) yield;
      }

      const page: ProjectPage = { name, meta, files };
      const versions = doc['versions'];
      if (versions !== undefined) {
        if (!Array.isArray(versions) || !versions.every((v) => typeof v === 'string')) {
          throw new MalformedPageError('versions is not an array of strings');
        }
        page.versions = versions;
      }
      const extra = unknownKeys(doc, KNOWN_PAGE_KEYS, 'the page');
      if (extra) page.extra = extra;
      return page;
    },
  };
}

/**
 * Parses a PEP 691 JSON project page (`application/vnd.pypi.simple.v1+json`). File URLs are
 * resolved against `baseUrl`; all `meta` keys are kept; unknown keys go to `extra`.
 * @throws {MalformedPageError} on invalid JSON, wrong shapes, values nested deeper than
 * MAX_PASSTHROUGH_DEPTH (json-passthrough.ts), or an api-version other than 1.x.
 */
export function parseProjectJson(body: Buffer | Uint8Array | string, baseUrl: string, options: ParseProjectJsonOptions = {}): ProjectPage {
  return parseWholeBody(createProjectJsonParser(baseUrl, UNLIMITED, options), body);
}
