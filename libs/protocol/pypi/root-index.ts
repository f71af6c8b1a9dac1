/** The root `/simple/` project list: parse (HTML, JSON; HTML incrementally) and streaming render. */
import { Parser } from 'htmlparser2';
import type { RootEntry, RootIndexParser } from '../types.js';
import { checkApiVersion } from './api-version.js';
import { bodyText } from './body-text.js';
import { MalformedPageError } from './errors.js';
import { escapeAttribute, escapeText } from './html-escape.js';
import { isValidProjectName, normalizeName } from './names.js';
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
export function* renderRootIndexHtml(entries: Iterable<RootEntry>, apiVersion = '1.0'): Generator<string, void, undefined> {
  yield (
    '<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="' +
    escapeAttribute(apiVersion) +
    '">\n    <title>Simple index</title>\n  </head>\n  <body>\n'
  );
  let chunk = '';
  let count = 0;
  for (const { name } of entries) {
    chunk += '    <a href="' + escapeAttribute(encodeURIComponent(normalizeName(name))) + '/">' + escapeText(name) + '</a>\n';
    if (++count === ROOT_CHUNK_SIZE) {
      yield chunk;
      chunk = '';
      count = 0;
    }
  }
  yield chunk + '  </body>\n</html>\n';
}

/** Renders the root page as PEP 691 JSON in chunks: `{"meta":{"api-version":…},"projects":[{"name":…}]}`. */
export function* renderRootIndexJson(entries: Iterable<RootEntry>, apiVersion = '1.0'): Generator<string, void, undefined> {
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

/**
 * What Orchard asks an upstream's root for: HTML first, because it parses incrementally (PyPI's root
 * is tens of megabytes); JSON from upstreams that speak only JSON.
 */
export const ROOT_INDEX_ACCEPT = 'text/html, application/vnd.pypi.simple.v1+html;q=0.9, application/vnd.pypi.simple.v1+json;q=0.5';

function isJsonType(contentType: string | undefined): boolean {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || type.endsWith('+json');
}

/**
 * An incremental root index parser. HTML is tokenised chunk by chunk, so only the project names are
 * ever held, never the body; JSON (no incremental parser here) is buffered up to `maxBytes` and
 * parsed at the end. Names that are not valid project names are skipped.
 * @throws {MalformedPageError} past `maxBytes`, on a body that is not a root index, or api-version 2+.
 */
export function createRootIndexParser(contentType: string | undefined, onEntry: (entry: RootEntry) => void, maxBytes: number): RootIndexParser {
  let total = 0;
  const count = (chunk: Buffer): void => {
    total += chunk.length;
    if (total > maxBytes) throw new MalformedPageError(`root index larger than ${maxBytes} bytes`);
  };
  const emit = (name: string): void => {
    const trimmed = name.trim();
    if (isValidProjectName(trimmed)) onEntry({ name: trimmed });
  };
  if (isJsonType(contentType)) {
    const chunks: Buffer[] = [];
    return {
      write(chunk) {
        count(chunk);
        chunks.push(chunk);
      },
      end() {
        const body = Buffer.concat(chunks);
        chunks.length = 0;
        for (const entry of parseRootIndexJson(body)) emit(entry.name);
      },
    };
  }
  const decoder = new TextDecoder('utf-8');
  let anchor: string | undefined;
  let sawMarkup = false;
  let started = false;
  const parser = new Parser(
    {
      onopentag(name, attributes) {
        sawMarkup = true;
        if (name === 'a') {
          if (anchor !== undefined) emit(anchor);
          anchor = '';
        } else if (name === 'meta' && attributes['name']?.toLowerCase() === 'pypi:repository-version' && attributes['content'] !== undefined) {
          checkApiVersion(attributes['content']);
        }
      },
      ontext(data) {
        if (anchor !== undefined) anchor += data;
      },
      onclosetag(name) {
        if (name === 'a' && anchor !== undefined) {
          emit(anchor);
          anchor = undefined;
        }
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  return {
    write(chunk) {
      count(chunk);
      let text = decoder.decode(chunk, { stream: true });
      if (!started && text.length > 0) {
        started = true;
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      }
      if (text.includes('\u0000')) throw new MalformedPageError('binary data where HTML was expected');
      parser.write(text);
    },
    end() {
      parser.write(decoder.decode());
      parser.end();
      if (anchor !== undefined) emit(anchor);
      if (!sawMarkup && total > 0) throw new MalformedPageError('no HTML markup');
    },
  };
}

/** Renders the root index in one of the two formats, in chunks. */
export function renderRootIndex(format: 'html' | 'json', entries: Iterable<RootEntry>): Iterable<string> {
  return format === 'html' ? renderRootIndexHtml(entries) : renderRootIndexJson(entries);
}
