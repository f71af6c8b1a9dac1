/** ProjectPage → PEP 691 JSON (with PEP 700 and the PEP 714 key). */
import type { ProjectFile, ProjectPage } from '../types.js';
import { effectiveApiVersion } from './api-version.js';
import { normalizeName } from './names.js';
import { FILES_PER_CHUNK, type FileLinker } from './render-project-html.js';
import { KNOWN_FILE_KEYS, KNOWN_PAGE_KEYS } from './parse-project-json.js';

function fileJson(file: ProjectFile, url: string): Record<string, unknown> {
  const out: Record<string, unknown> = { filename: file.filename, url, hashes: file.hashes };
  if (file.requiresPython !== undefined) out['requires-python'] = file.requiresPython;
  if (file.yanked !== undefined) out['yanked'] = file.yanked;
  // Only `core-metadata`: pip 22.3–23.1 crash on a JSON `dist-info-metadata`.
  if (file.coreMetadata !== undefined && file.coreMetadata !== false) out['core-metadata'] = file.coreMetadata;
  if (file.gpgSig !== undefined) out['gpg-sig'] = file.gpgSig;
  if (file.size !== undefined) out['size'] = file.size;
  if (file.uploadTime !== undefined) out['upload-time'] = file.uploadTime;
  if (file.extra) {
    for (const [k, v] of Object.entries(file.extra)) if (!KNOWN_FILE_KEYS.has(k)) out[k] = v;
  }
  return out;
}

/**
 * Renders a project page as PEP 691 JSON in chunks. `meta` keeps every key, with `api-version`
 * raised to 1.1 when the page carries PEP 700 data. Unknown keys (`extra`) are passed through but
 * never override known ones. `link(file)` gives each file's url.
 */
export function* renderProjectJsonChunks(page: ProjectPage, link: FileLinker): Generator<string, void, undefined> {
  const meta = { ...page.meta, 'api-version': effectiveApiVersion(page) };
  // PEP 691: the normalised name (an HTML upstream's title may spell it otherwise).
  let out = '{"meta":' + JSON.stringify(meta) + ',"name":' + JSON.stringify(normalizeName(page.name)) + ',"files":[';
  let count = 0;
  let first = true;
  for (const file of page.files) {
    out += (first ? '' : ',') + JSON.stringify(fileJson(file, link(file)));
    first = false;
    if (++count === FILES_PER_CHUNK) {
      yield out;
      out = '';
      count = 0;
    }
  }
  out += ']';
  if (page.versions !== undefined) out += ',"versions":' + JSON.stringify(page.versions);
  if (page.extra) {
    for (const [k, v] of Object.entries(page.extra)) {
      if (!KNOWN_PAGE_KEYS.has(k) && v !== undefined) out += ',' + JSON.stringify(k) + ':' + JSON.stringify(v);
    }
  }
  yield out + '}';
}

/** Renders a project page as PEP 691 JSON in one string (see {@link renderProjectJsonChunks}). */
export function renderProjectJson(page: ProjectPage, link: FileLinker): string {
  return [...renderProjectJsonChunks(page, link)].join('');
}
