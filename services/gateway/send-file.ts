import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import parseRange from 'range-parser';
import type { BlobStore, ByteRange } from '../../libs/storage/index.js';
import type { Metrics } from '../../libs/metrics/index.js';
import { bodyDelivered } from './body-delivery.js';
import { HttpError } from './http-errors.js';

export interface SendFileOptions {
  key: string;
  sha256: string;
  filename: string;
  contentType: string;
  /** Known size, saving a stat when the cache already told us. */
  size?: number;
  /**
   * Answer with a redirect to a short-lived presigned URL instead of streaming the bytes
   * (`ORCHARD_DOWNLOAD_MODE=redirect`); ignored for stores that cannot presign (fs).
   */
  redirect?: boolean;
}

/** Lifetime of a presigned download URL: S3 checks it when the download starts, not while it runs. */
export const PRESIGNED_URL_SECONDS = 300;

/**
 * Streams a stored, verified object with the HTTP semantics clients rely on: strong ETag (the
 * sha256), 304 on If-None-Match, one byte range (206/416, honouring If-Range), HEAD with the same
 * Content-Length as GET, never content-encoded. In redirect mode the client is sent to a presigned
 * URL instead (after the 304 check, which needs no storage round trip). Returns false when the
 * object is not in the store.
 */
export async function sendStoredFile(req: IncomingMessage, res: ServerResponse, store: BlobStore, metrics: Metrics, file: SendFileOptions): Promise<boolean> {
  const etag = `"${file.sha256}"`;
  if (file.redirect && store.presignedUrl) {
    res.setHeader('ETag', etag);
    if (isFresh(req, etag)) {
      res.setHeader('Cache-Control', IMMUTABLE_FILE);
      res.statusCode = 304;
      res.end();
      return true;
    }
    if (file.size === undefined && !(await store.stat(file.key))) return false;
    const url = await store.presignedUrl(file.key, { expiresInSeconds: PRESIGNED_URL_SECONDS, filename: file.filename });
    // 307 keeps the method (a HEAD stays a HEAD); the client re-sends its Range to the store.
    setHeaders(res, { 'Cache-Control': 'no-store', Location: url, 'X-Orchard-Download': 'redirect' });
    res.statusCode = 307;
    res.end();
    return true;
  }
  const size = file.size ?? (await store.stat(file.key))?.size;
  if (size === undefined) return false;
  const range = prepare(req, res, { sha256: file.sha256, size, contentType: file.contentType, filename: file.filename });
  if (range === 'done') return true;
  const length = range ? range.end - range.start + 1 : size;
  if (req.method === 'HEAD') {
    res.end();
    return true;
  }
  const controller = new AbortController();
  res.once('close', () => controller.abort());
  const blob = await store.get(file.key, { range: range ?? undefined, signal: controller.signal });
  if (!blob) {
    res.removeHeader('Content-Length');
    res.removeHeader('Content-Range');
    res.statusCode = 200;
    return false;
  }
  await (blob.writeTo ? blob.writeTo(res) : pipeline(blob.body, res)).catch((err: unknown) => {
    if (!bodyDelivered(res) && !controller.signal.aborted) throw err;
  });
  if (bodyDelivered(res)) metrics.bytesServed.inc({ source: 'storage' }, length);
  return true;
}

/**
 * Sends a small body held in memory (PEP 658 metadata) with the same semantics as a stored file:
 * strong ETag (the body's sha256), 304, one byte range, HEAD, immutable caching. `head`, the
 * answer's headers from {@link wholeBodyHeaders}, writes a plain GET or HEAD in one call.
 */
export function sendBuffer(
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer,
  file: { sha256: string; filename: string; contentType: string; /** Instead of immutable caching. */ cacheControl?: string },
  head?: string[],
): void {
  if (head && req.headers.range === undefined && req.headers['if-none-match'] === undefined) {
    res.writeHead(200, head);
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  const range = prepare(req, res, { sha256: file.sha256, size: body.length, contentType: file.contentType, filename: file.filename, cacheControl: file.cacheControl });
  if (range === 'done') return;
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  res.end(range ? body.subarray(range.start, range.end + 1) : body);
}

/**
 * The representation headers of every file answer — served from storage, followed from a fetcher or
 * passed through from an upstream: strong ETag (the sha256), `attachment` disposition, no sniffing.
 */
export function fileHeaders(file: {
  sha256: string;
  filename: string;
  contentType: string;
  cacheControl: string;
  acceptRanges: boolean;
}): { ETag: string } & Record<string, string> {
  return {
    ETag: `"${file.sha256}"`,
    'Cache-Control': file.cacheControl,
    ...(file.acceptRanges ? { 'Accept-Ranges': 'bytes' } : {}),
    'Content-Type': file.contentType,
    'Content-Disposition': `attachment; filename="${file.filename.replace(/["\\]/g, '')}"`,
    'X-Content-Type-Options': 'nosniff',
  };
}

/** The headers of a whole-body 200 answer of a body held in memory, as {@link sendBuffer} sets them, as a flat list. */
export function wholeBodyHeaders(file: { sha256: string; filename: string; contentType: string; size: number }): string[] {
  const headers = fileHeaders({ ...file, cacheControl: IMMUTABLE_FILE, acceptRanges: true });
  return [...Object.entries(headers).flat(), 'Content-Length', String(file.size)];
}

/** Caching of a verified file: its bytes never change under its URL. */
export const IMMUTABLE_FILE = 'public, max-age=31536000, immutable';

/**
 * Sets the representation headers, then answers 304 (returns 'done') or settles the status and
 * Content-Length for the whole body (returns null) or one satisfiable range (returns it). An
 * unsatisfiable range throws 416; a malformed or multi-range header gets the whole body, as RFC 9110
 * allows.
 */
function prepare(
  req: IncomingMessage,
  res: ServerResponse,
  file: { sha256: string; size: number; contentType: string; filename: string; cacheControl?: string },
): ByteRange | null | 'done' {
  const headers = fileHeaders({ ...file, cacheControl: file.cacheControl ?? IMMUTABLE_FILE, acceptRanges: true });
  setHeaders(res, headers);
  if (isFresh(req, headers.ETag)) {
    res.statusCode = 304;
    res.end();
    return 'done';
  }
  let range: ByteRange | null = null;
  const rangeHeader = req.headers.range;
  const ifRange = req.headers['if-range'];
  // If-Range with our strong ETag (or none) keeps the range; a date or another ETag gets the whole file.
  if (rangeHeader && (!ifRange || String(ifRange).trim() === headers.ETag)) {
    const parsed = parseRange(file.size, rangeHeader, { combine: true });
    if (parsed === -1) {
      throw new HttpError(416, 'range_not_satisfiable', 'range not satisfiable', { 'Content-Range': `bytes */${file.size}` });
    }
    if (parsed !== -2 && parsed.type === 'bytes' && parsed.length === 1) range = parsed[0]!;
  }
  const length = range ? range.end - range.start + 1 : file.size;
  res.statusCode = range ? 206 : 200;
  res.setHeader('Content-Length', String(length));
  if (range) res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${file.size}`);
  return range;
}

/**
 * Whether the client's copy is current: RFC 9110 If-None-Match, weak comparison, `*` matching any
 * current representation. Not the `fresh` package: it ignores the condition when the request says
 * `Cache-Control: no-cache`, which fetch() adds to every conditional request, while an origin
 * evaluates If-None-Match whatever the request's cache directives (RFC 9110 §13.2.2).
 */
export function isFresh(req: IncomingMessage, etag: string): boolean {
  const header = req.headers['if-none-match'];
  if (!header) return false;
  if (header.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === bare);
}

/** Sets several response headers at once. */
export function setHeaders(res: ServerResponse, headers: Record<string, string>): void {
  for (const name in headers) res.setHeader(name, headers[name]!);
}
