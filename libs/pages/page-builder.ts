import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { brotliCompress, brotliCompressSync, gzip, gzipSync, constants as zlib, type BrotliOptions, type ZlibOptions } from 'node:zlib';
import { listedFileKey, type FileSource } from '../cache/index.js';
import type { PageVariant } from '../cache/index.js';
import type { PageFormat, ProjectFile, ProjectPage, ProtocolAdapter } from '../protocol/types.js';
import type { FileLinks } from './file-links.js';
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

/**
 * Renders a project page as Orchard serves it: links point at the gateway, and only files the
 * upstream published a digest for are kept (Orchard verifies every byte against it).
 * `extracted` (file sha256 → sha256 of the metadata file Orchard extracted from it) lets the page
 * advertise PEP 658 metadata the upstream did not offer.
 */
export async function buildPage(
  protocol: ProtocolAdapter,
  links: FileLinks,
  project: string,
  upstream: string,
  page: ProjectPage,
  extracted?: ReadonlyMap<string, string>,
): Promise<BuiltPage> {
  const files = new Map<string, FileSource>();
  const kept: ProjectFile[] = [];
  for (const file of page.files) {
    const id = protocol.fileIdentity(file);
    const digest = protocol.fileDigest(file);
    if (!id || !digest) continue;
    kept.push(file);
    // A sha256 digest is the identity itself; any other (npm's sha512) travels with the source to the fetch job.
    const verify = digest.algorithm === 'sha256' ? {} : { digest };
    files.set(listedFileKey(id, file.filename), { url: file.url, upstream, filename: file.filename, ...verify, ...upstreamMetadata(file) });
  }
  // The model is the upstream's page as kept: re-rendering it later adds newly extracted metadata.
  const model: ProjectPage = { ...page, files: kept };
  return { ...(await renderPage(protocol, links, project, model, extracted)), files, skipped: page.files.length - kept.length };
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
export async function renderPage(protocol: ProtocolAdapter, links: FileLinks, project: string, model: ProjectPage, extracted?: ReadonlyMap<string, string>): Promise<RenderedPage> {
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
  const link = (file: ProjectFile) => links(project, protocol.fileIdentity(file)!, file.filename);
  const hash = createHash('sha256');
  const rendered: Array<[PageFormat, Buffer]> = [];
  for (const format of protocol.pageFormats) rendered.push([format, await slices.collect(protocol.renderProject(format, served, link), (bytes) => hash.update(bytes))]);
  const etag = hash.digest('hex').slice(0, 32);
  const bodies: RenderedPage['bodies'] = { model: await slices.collect(modelJsonChunks(model)) };
  for (const [format, body] of rendered) {
    const { gz, br } = await compressed(body);
    bodies[format] = body;
    bodies[`${format}.gz`] = gz;
    bodies[`${format}.br`] = br;
  }
  return { etag, extractedMetadata, bodies };
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
