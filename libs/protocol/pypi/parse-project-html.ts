/** PEP 503 (+ 592, 629, 658, 714) project page HTML → ProjectPage. */
import { Parser } from 'htmlparser2';
import type { ProjectFile, ProjectPage, ProjectPageParser } from '../types.js';
import { checkApiVersion, DEFAULT_API_VERSION } from './api-version.js';
import { lastPathSegment, resolveHttpUrl } from './body-text.js';
import { MalformedPageError } from './errors.js';
import { isSafeFilename } from './filenames.js';
import { parseHashPair } from './hashes.js';
import { parseBaseUrl } from './base-url.js';
import { PageLimitError, type PageLimits } from '../page-limits.js';
import { parseWholeBody, UNLIMITED } from './page-steps.js';

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

/** An index page tokeniser fed chunk by chunk (see {@link createIndexHtmlScanner}). */
export interface IndexHtmlScanner {
  write(chunk: Buffer | Uint8Array | string): void;
  /** Ends the body; throws {@link MalformedPageError} when it was not plausibly HTML. */
  end(): ScannedPage;
}

/**
 * Tokenises an index page incrementally, the way browsers and pip tolerate it: unclosed tags, stray
 * text, any attribute quoting. Only anchors and a few head elements are kept, never the body.
 * Throws {@link MalformedPageError} on binary data, and {@link PageLimitError} as soon as the page
 * has more than `maxAnchors` anchors.
 */
export function createIndexHtmlScanner(options: { maxAnchors?: number } = {}): IndexHtmlScanner {
  const maxAnchors = options.maxAnchors ?? Infinity;
  const decoder = new TextDecoder('utf-8');
  let started = false;
  let sawText = false;
  let sawMarkup = false;
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
          if (result.anchors.length >= maxAnchors) throw new PageLimitError('maxFiles', maxAnchors);
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
  const feed = (text: string): void => {
    if (text.length === 0) return;
    if (!started) {
      started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (text.includes('\u0000')) throw new MalformedPageError('binary data where HTML was expected');
    if (!sawText && text.trim().length > 0) sawText = true;
    if (!sawMarkup && text.includes('<')) sawMarkup = true;
    parser.write(text);
  };
  return {
    write(chunk) {
      feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
    },
    end() {
      feed(decoder.decode());
      if (!sawText) throw new MalformedPageError('empty page');
      if (!sawMarkup) throw new MalformedPageError('no HTML markup');
      parser.end();
      closeAnchor();
      return result;
    },
  };
}

/**
 * Tokenises a whole index page (see {@link createIndexHtmlScanner}). Throws
 * {@link MalformedPageError} when the body is not plausibly HTML.
 */
export function scanIndexHtml(body: Buffer | Uint8Array | string): ScannedPage {
  const scanner = createIndexHtmlScanner();
  scanner.write(body);
  return scanner.end();
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

/** Anchors turned into files between two steps of {@link createProjectHtmlParser}'s `end()`. */
const FILES_PER_STEP = 500;

/**
 * An incremental PEP 503 project page parser: the body is tokenised as it arrives (only anchors are
 * kept) and refused once it passes `limits`; `end()` resolves the links in steps.
 */
export function createProjectHtmlParser(baseUrl: string, limits: PageLimits, options: ParseProjectHtmlOptions = {}): ProjectPageParser {
  const pageUrl = parseBaseUrl(baseUrl);
  const scanner = createIndexHtmlScanner({ maxAnchors: limits.maxFiles });
  let bytes = 0;
  return {
    write(chunk) {
      bytes += chunk.length;
      if (bytes > limits.maxBytes) throw new PageLimitError('maxBytes', limits.maxBytes);
      scanner.write(chunk);
    },
    *end() {
      const scanned = scanner.end();
      const base = (scanned.baseHref !== undefined && resolveHttpUrl(scanned.baseHref, pageUrl)) || pageUrl;
      const apiVersion = scanned.repositoryVersion !== undefined ? checkApiVersion(scanned.repositoryVersion) : DEFAULT_API_VERSION;
      const files: ProjectFile[] = [];
      const anchors = scanned.anchors;
      for (let i = 0; i < anchors.length; i++) {
        const file = anchorToFile(anchors[i]!, base);
        if (file) files.push(file);
        if (i % FILES_PER_STEP === FILES_PER_STEP - 1) yield;
      }
      const name = scanned.title ?? options.name ?? lastPathSegment(pageUrl);
      return { name, meta: { 'api-version': apiVersion }, files };
    },
  };
}

/**
 * Parses a PEP 503 project page. Links are resolved against `<base href>` (itself resolved against
 * `baseUrl`) or `baseUrl`; anchors without an http(s) href or a safe filename are skipped.
 * @throws {MalformedPageError} when the body is not plausibly an index page or declares api-version 2+.
 */
export function parseProjectHtml(body: Buffer | Uint8Array | string, baseUrl: string, options: ParseProjectHtmlOptions = {}): ProjectPage {
  return parseWholeBody(createProjectHtmlParser(baseUrl, UNLIMITED, options), body);
}
