import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { brotliCompress, brotliCompressSync, gzip, gzipSync, constants as zlib, type BrotliOptions, type ZlibOptions } from 'node:zlib';
import { listedFileKey, type FileSource } from '../cache/index.js';
import type { PageVariant } from '../cache/index.js';
import type { ProjectFile, ProjectPage, ProtocolAdapter } from '../protocol/types.js';
import { TimeSlices } from './time-slices.js';

const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);
const GZIP: ZlibOptions = { level: 6 };
const BROTLI: BrotliOptions = { params: { [zlib.BROTLI_PARAM_QUALITY]: 5 } };
/**
 * Bodies up to this size are compressed on the event loop (both formats well under a millisecond);
 * larger ones on libuv's thread pool, so a page of many megabytes never stalls other requests. A
 * thread-pool hop costs a small page more than its compression does, and a cold page waits for it.
 */
const COMPRESS_INLINE_BYTES = 64 * 1024;

async function compressed(body: Buffer): Promise<{ gz: Buffer; br: Buffer }> {
  if (body.length <= COMPRESS_INLINE_BYTES) return { gz: gzipSync(body, GZIP), br: brotliCompressSync(body, BROTLI) };
  // One after another: one thread-pool thread at a time, leaving the other core to the event loop.
  const gz = await gzipAsync(body, GZIP);
  return { gz, br: await brotliAsync(body, BROTLI) };
}

/** The representations of one page, rendered and compressed once. */
export interface RenderedPage {
  etag: string;
  bodies: Partial<Record<PageVariant, Buffer>>;
  /** How many files advertise metadata that Orchard extracted itself. */
  extractedMetadata: number;
}

/** Everything stored for one page fill: every representation, rendered and compressed once. */
export interface BuiltPage extends RenderedPage {
  /** Every listed file by {@link listedFileKey} (sha256 and name): one sha256 may go by several names. */
  files: Map<string, FileSource>;
  /** Files left out because the upstream gave no sha256 to identify and verify them by. */
  skipped: number;
}

/** Path of a file relative to its project page `/simple/<project>/`. */
export function fileLink(project: string, sha256: string, filename: string): string {
  return `../../files/${project}/${sha256}/${encodeURIComponent(filename)}`;
}

/**
 * Renders a project page as Orchard serves it: links point at the gateway, and only files the
 * upstream identified by sha256 are kept (Orchard verifies every byte against that hash).
 * `extracted` (file sha256 → sha256 of the metadata file Orchard extracted from it) lets the page
 * advertise PEP 658 metadata the upstream did not offer.
 */
export async function buildPage(protocol: ProtocolAdapter, project: string, upstream: string, page: ProjectPage, extracted?: ReadonlyMap<string, string>): Promise<BuiltPage> {
  const files = new Map<string, FileSource>();
  const kept: ProjectFile[] = [];
  for (const file of page.files) {
    const sha256 = protocol.fileIdentity(file);
    if (!sha256) continue;
    kept.push(file);
    files.set(listedFileKey(sha256, file.filename), { url: file.url, upstream, filename: file.filename, ...upstreamMetadata(file) });
  }
  // The model is the upstream's page as kept: re-rendering it later adds newly extracted metadata.
  const model: ProjectPage = { ...page, files: kept };
  return { ...(await renderPage(protocol, project, model, extracted)), files, skipped: page.files.length - kept.length };
}

/** What the file map remembers of the upstream's own metadata file: its sha256, or true (another or no hash). */
function upstreamMetadata(file: ProjectFile): Pick<FileSource, 'coreMetadata'> {
  const meta = file.coreMetadata;
  if (meta === undefined || meta === false) return {};
  if (meta !== true && meta['sha256']) return { coreMetadata: meta['sha256'] };
  return { coreMetadata: true };
}

/**
 * The files of a (kept) page whose extracted metadata may be advertised: those the protocol allows
 * it for (wheels) and the upstream offered no hashed metadata file for.
 */
export function extractedMetadataCandidates(protocol: ProtocolAdapter, model: ProjectPage): string[] {
  const ids: string[] = [];
  for (const file of model.files) {
    if (file.coreMetadata !== undefined && file.coreMetadata !== false && file.coreMetadata !== true) continue;
    const sha256 = protocol.fileIdentity(file);
    if (sha256 && protocol.advertisesExtractedMetadata(file.filename)) ids.push(sha256);
  }
  return ids;
}

/**
 * Renders every representation of a page model (the `model` body included) with the extracted
 * metadata applied; the ETag is a content hash of what clients see. Rendering pauses between chunks
 * and compression runs off the event loop, so a page of 100,000 files never stalls other requests.
 */
export async function renderPage(protocol: ProtocolAdapter, project: string, model: ProjectPage, extracted?: ReadonlyMap<string, string>): Promise<RenderedPage> {
  const slices = new TimeSlices();
  let extractedMetadata = 0;
  let served = model;
  if (extracted && extracted.size > 0) {
    const candidates = new Set(extractedMetadataCandidates(protocol, model));
    served = {
      ...model,
      files: model.files.map((file) => {
        const sha256 = protocol.fileIdentity(file)!;
        const digest = candidates.has(sha256) ? extracted.get(sha256) : undefined;
        if (!digest) return file;
        extractedMetadata++;
        return { ...file, coreMetadata: { sha256: digest } };
      }),
    };
  }
  const link = (file: ProjectFile) => fileLink(project, protocol.fileIdentity(file)!, file.filename);
  const hash = createHash('sha256');
  const html = await slices.collect(protocol.renderProjectHtml(served, link), (bytes) => hash.update(bytes));
  const json = await slices.collect(protocol.renderProjectJson(served, link), (bytes) => hash.update(bytes));
  const etag = hash.digest('hex').slice(0, 32);
  const modelBody = await slices.collect(modelJsonChunks(model));
  const htmlZ = await compressed(html);
  const jsonZ = await compressed(json);
  return {
    etag,
    extractedMetadata,
    bodies: { html, json, model: modelBody, 'html.gz': htmlZ.gz, 'json.gz': jsonZ.gz, 'html.br': htmlZ.br, 'json.br': jsonZ.br },
  };
}

/** Files per chunk of the stored model's JSON. */
const MODEL_FILES_PER_CHUNK = 500;

/** `JSON.stringify(model)` in chunks (the same document, read back with JSON.parse). */
function* modelJsonChunks(model: ProjectPage): Generator<string, void, undefined> {
  const { files, ...rest } = model;
  const head = JSON.stringify(rest);
  let out = head.slice(0, -1) + (head === '{}' ? '' : ',') + '"files":[';
  for (let i = 0; i < files.length; i++) {
    out += (i === 0 ? '' : ',') + JSON.stringify(files[i]);
    if (i % MODEL_FILES_PER_CHUNK === MODEL_FILES_PER_CHUNK - 1) {
      yield out;
      out = '';
    }
  }
  yield out + ']}';
}
