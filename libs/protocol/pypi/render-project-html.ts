/** ProjectPage → PEP 503 HTML (with PEP 592, 629, 658, 714 attributes). */
import type { ProjectFile, ProjectPage } from '../types.js';
import { preferredHash } from './hashes.js';
import { escapeAttribute, escapeText } from './html-escape.js';

/** Builds the href of a file (without hash fragment); the gateway passes links to itself. */
export type FileLinker = (file: ProjectFile) => string;

/** The `data-core-metadata` value: `sha256=<hex>` (or the first hash), else `true`. */
export function coreMetadataAttributeValue(coreMetadata: true | Record<string, string>): string {
  if (coreMetadata === true) return 'true';
  const hash = preferredHash(coreMetadata);
  return hash ? `${hash[0]}=${hash[1]}` : 'true';
}

/** Renders one `<a …>filename</a><br/>` line. */
export function renderFileAnchor(file: ProjectFile, href: string): string {
  const hash = preferredHash(file.hashes);
  let out = '<a href="' + escapeAttribute(hash ? `${href}#${hash[0]}=${hash[1]}` : href) + '"';
  if (file.requiresPython !== undefined) {
    out += ' data-requires-python="' + escapeAttribute(file.requiresPython) + '"';
  }
  if (file.yanked === true) out += ' data-yanked=""';
  else if (typeof file.yanked === 'string') out += ' data-yanked="' + escapeAttribute(file.yanked) + '"';
  if (file.coreMetadata !== undefined && file.coreMetadata !== false) {
    const value = escapeAttribute(coreMetadataAttributeValue(file.coreMetadata));
    // Both names: PEP 714's new one, and the old one that pip < 23.2 understands.
    out += ' data-core-metadata="' + value + '" data-dist-info-metadata="' + value + '"';
  }
  if (file.gpgSig !== undefined) out += ' data-gpg-sig="' + (file.gpgSig ? 'true' : 'false') + '"';
  return out + '>' + escapeText(file.filename) + '</a><br/>\n';
}

/** Files per chunk of the chunked renderers: big enough to amortise, small enough to pause often. */
export const FILES_PER_CHUNK = 500;

/**
 * Renders a project page as PEP 503 HTML in chunks, declaring the page's api-version (PEP 629).
 * File order is kept. `link(file)` gives each file's href.
 */
export function* renderProjectHtmlChunks(page: ProjectPage, link: FileLinker): Generator<string, void, undefined> {
  const name = escapeText(page.name);
  let out =
    '<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="' +
    escapeAttribute(page.meta['api-version']) +
    '">\n    <title>Links for ' +
    name +
    '</title>\n  </head>\n  <body>\n    <h1>Links for ' +
    name +
    '</h1>\n';
  let count = 0;
  for (const file of page.files) {
    out += renderFileAnchor(file, link(file));
    if (++count === FILES_PER_CHUNK) {
      yield out;
      out = '';
      count = 0;
    }
  }
  yield out + '  </body>\n</html>\n';
}

/** Renders a project page as PEP 503 HTML in one string (see {@link renderProjectHtmlChunks}). */
export function renderProjectHtml(page: ProjectPage, link: FileLinker): string {
  return [...renderProjectHtmlChunks(page, link)].join('');
}
