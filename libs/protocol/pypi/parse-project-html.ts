/** PEP 503 (+ 592, 629, 658, 714) project page HTML → ProjectPage. */
import { Parser } from 'htmlparser2';
import type { ProjectFile, ProjectPage } from '../types.js';
import { checkApiVersion, DEFAULT_API_VERSION } from './api-version.js';
import { bodyText, lastPathSegment, resolveHttpUrl } from './body-text.js';
import { MalformedPageError } from './errors.js';
import { isSafeFilename } from './filenames.js';
import { parseHashPair } from './hashes.js';
import { parseBaseUrl } from './base-url.js';

/** Options for {@link parseProjectHtml}. */
export interface ParseProjectHtmlOptions {
  /** Project name to use when the page does not say ("Links for X"); defaults to the URL's last segment. */
  name?: string;
}

/** One anchor as the tokenizer saw it, before URL resolution. */
export interface RawAnchor {
  attributes: Record<string, string>;
  text: string;
}

/** What a tolerant pass over an index page yields. */
export interface ScannedPage {
  anchors: RawAnchor[];
  /** First `<base href>`, unresolved. */
  baseHref?: string;
  /** `<meta name="pypi:repository-version">` content. */
  repositoryVersion?: string;
  /** Text of `<title>` or `<h1>` when it reads "Links for X". */
  title?: string;
}

/**
 * Tokenises an index page the way browsers and pip tolerate it: unclosed tags, stray text, any
 * attribute quoting. Throws {@link MalformedPageError} when the body is not plausibly HTML.
 */
export function scanIndexHtml(body: Buffer | Uint8Array | string): ScannedPage {
  const text = bodyText(body);
  if (text.includes('\u0000')) throw new MalformedPageError('binary data where HTML was expected');
  if (text.trim().length === 0) throw new MalformedPageError('empty page');
  if (!text.includes('<')) throw new MalformedPageError('no HTML markup');

  const result: ScannedPage = { anchors: [] };
  let anchor: RawAnchor | undefined;
  let heading: string | undefined;
  let headingDepth = 0;
  const closeAnchor = (): void => {
    if (anchor) {
      anchor.text = anchor.text.trim();
      result.anchors.push(anchor);
      anchor = undefined;
    }
  };
  const parser = new Parser(
    {
      onopentag(name, attributes) {
        if (name === 'a') {
          closeAnchor();
          anchor = { attributes, text: '' };
        } else if (name === 'base') {
          if (result.baseHref === undefined && attributes['href'] !== undefined) {
            result.baseHref = attributes['href'];
          }
        } else if (name === 'meta') {
          if (attributes['name']?.toLowerCase() === 'pypi:repository-version') {
            result.repositoryVersion ??= attributes['content'];
          }
        } else if (name === 'title' || name === 'h1') {
          headingDepth++;
          heading = '';
        }
      },
      ontext(data) {
        if (anchor) anchor.text += data;
        if (headingDepth > 0) heading += data;
      },
      onclosetag(name) {
        if (name === 'a') closeAnchor();
        else if ((name === 'title' || name === 'h1') && headingDepth > 0) {
          headingDepth--;
          const m = /^\s*Links for\s+(.+?)\s*$/i.exec(heading ?? '');
          if (m?.[1] && result.title === undefined) result.title = m[1];
        }
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.end(text);
  closeAnchor();
  return result;
}

/** PEP 714: prefer data-core-metadata, fall back to data-dist-info-metadata. */
function coreMetadataAttribute(attrs: Record<string, string>): ProjectFile['coreMetadata'] {
  const value = attrs['data-core-metadata'] ?? attrs['data-dist-info-metadata'];
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed.toLowerCase() === 'false') return undefined;
  const pair = parseHashPair(trimmed);
  // Like pip, any other value still advertises the metadata file, just without a hash.
  return pair ? { [pair.name]: pair.digest } : true;
}

/** Turns one anchor into a file, or undefined when it has no usable http(s) URL or filename. */
export function anchorToFile(anchor: RawAnchor, base: URL): ProjectFile | undefined {
  const href = anchor.attributes['href'];
  if (href === undefined) return undefined;
  const url = resolveHttpUrl(href, base);
  if (!url) return undefined;
  const hashes: Record<string, string> = {};
  const pair = url.hash.length > 1 ? parseHashPair(url.hash.slice(1)) : undefined;
  if (pair) hashes[pair.name] = pair.digest;
  url.hash = '';

  // The link text is the filename by PEP 503; fall back to the URL for empty/unsafe text.
  let filename = anchor.text;
  if (!isSafeFilename(filename)) filename = lastPathSegment(url);
  if (!isSafeFilename(filename)) return undefined;

  const attrs = anchor.attributes;
  const file: ProjectFile = { filename, url: url.href, hashes };
  const requiresPython = attrs['data-requires-python'];
  if (requiresPython !== undefined && requiresPython.trim() !== '') file.requiresPython = requiresPython.trim();
  const yanked = attrs['data-yanked'];
  if (yanked !== undefined) file.yanked = yanked.trim() === '' ? true : yanked;
  const coreMetadata = coreMetadataAttribute(attrs);
  if (coreMetadata !== undefined) file.coreMetadata = coreMetadata;
  const gpg = attrs['data-gpg-sig']?.trim().toLowerCase();
  if (gpg === 'true' || gpg === 'false') file.gpgSig = gpg === 'true';
  return file;
}

/**
 * Parses a PEP 503 project page. Links are resolved against `<base href>` (itself resolved against
 * `baseUrl`) or `baseUrl`; anchors without an http(s) href or a safe filename are skipped.
 * @throws {MalformedPageError} when the body is not plausibly an index page or declares api-version 2+.
 */
export function parseProjectHtml(
  body: Buffer | Uint8Array | string,
  baseUrl: string,
  options: ParseProjectHtmlOptions = {},
): ProjectPage {
  const pageUrl = parseBaseUrl(baseUrl);
  const scanned = scanIndexHtml(body);
  const base = (scanned.baseHref !== undefined && resolveHttpUrl(scanned.baseHref, pageUrl)) || pageUrl;
  const apiVersion =
    scanned.repositoryVersion !== undefined ? checkApiVersion(scanned.repositoryVersion) : DEFAULT_API_VERSION;
  const files: ProjectFile[] = [];
  for (const anchor of scanned.anchors) {
    const file = anchorToFile(anchor, base);
    if (file) files.push(file);
  }
  const name = scanned.title ?? options.name ?? lastPathSegment(pageUrl);
  return { name, meta: { 'api-version': apiVersion }, files };
}
