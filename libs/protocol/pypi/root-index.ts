/** The root `/simple/` project list: parse (HTML, JSON) and streaming render. */
import type { RootEntry } from '../types.js';
import { checkApiVersion } from './api-version.js';
import { bodyText } from './body-text.js';
import { MalformedPageError } from './errors.js';
import { escapeAttribute, escapeText } from './html-escape.js';
import { normalizeName } from './names.js';
import { scanIndexHtml } from './parse-project-html.js';

/** Entries per yielded chunk: big enough to amortise writes, small enough to stream smoothly. */
export const ROOT_CHUNK_SIZE = 2000;

/** Parses a PEP 503 root page: one entry per anchor with non-empty text, in page order. */
export function parseRootIndexHtml(body: Buffer | Uint8Array | string): RootEntry[] {
  const entries: RootEntry[] = [];
  for (const anchor of scanIndexHtml(body).anchors) {
    if (anchor.text !== '') entries.push({ name: anchor.text });
  }
  return entries;
}

/**
 * Parses a PEP 691 root page (`projects[].name`).
 * @throws {MalformedPageError} on invalid JSON or wrong shapes.
 */
export function parseRootIndexJson(body: Buffer | Uint8Array | string): RootEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(bodyText(body));
  } catch {
    throw new MalformedPageError('invalid JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new MalformedPageError('top level is not an object');
  }
  const { meta, projects } = doc as Record<string, unknown>;
  if (typeof meta === 'object' && meta !== null) {
    const version = (meta as Record<string, unknown>)['api-version'];
    if (typeof version === 'string') checkApiVersion(version);
  }
  if (!Array.isArray(projects)) throw new MalformedPageError('projects is not an array');
  return projects.map((p, i) => {
    const name = (p as Record<string, unknown> | null)?.['name'];
    if (typeof name !== 'string') throw new MalformedPageError(`projects[${i}].name is not a string`);
    return { name };
  });
}

/**
 * Renders the root page as PEP 503 HTML in chunks (a 600k-project list is never one string).
 * Links are relative (`<normalized-name>/`) so the page works under any host and port.
 */
export function* renderRootIndexHtml(
  entries: Iterable<RootEntry>,
  apiVersion = '1.0',
): Generator<string, void, undefined> {
  yield '<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="' +
    escapeAttribute(apiVersion) +
    '">\n    <title>Simple index</title>\n  </head>\n  <body>\n';
  let chunk = '';
  let count = 0;
  for (const { name } of entries) {
    chunk +=
      '    <a href="' + escapeAttribute(encodeURIComponent(normalizeName(name))) + '/">' + escapeText(name) + '</a>\n';
    if (++count === ROOT_CHUNK_SIZE) {
      yield chunk;
      chunk = '';
      count = 0;
    }
  }
  yield chunk + '  </body>\n</html>\n';
}

/** Renders the root page as PEP 691 JSON in chunks: `{"meta":{"api-version":…},"projects":[{"name":…}]}`. */
export function* renderRootIndexJson(
  entries: Iterable<RootEntry>,
  apiVersion = '1.0',
): Generator<string, void, undefined> {
  let chunk = '{"meta":{"api-version":' + JSON.stringify(apiVersion) + '},"projects":[';
  let count = 0;
  let first = true;
  for (const { name } of entries) {
    chunk += (first ? '{"name":' : ',{"name":') + JSON.stringify(name) + '}';
    first = false;
    if (++count === ROOT_CHUNK_SIZE) {
      yield chunk;
      chunk = '';
      count = 0;
    }
  }
  yield chunk + ']}';
}
