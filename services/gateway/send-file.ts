import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
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
export async function sendStoredFile(req: Request, res: Response, store: BlobStore, metrics: Metrics, file: SendFileOptions): Promise<boolean> {
  const etag = `"${file.sha256}"`;
  if (file.redirect && store.presignedUrl) {
    res.set('ETag', etag);
    if (matchesEtag(req.headers['if-none-match'], etag)) {
      res.set('Cache-Control', IMMUTABLE_FILE).status(304).end();
      return true;
    }
    if (file.size === undefined && !(await store.stat(file.key))) return false;
    const url = await store.presignedUrl(file.key, { expiresInSeconds: PRESIGNED_URL_SECONDS, filename: file.filename });
    // 307 keeps the method (a HEAD stays a HEAD); the client re-sends its Range to the store.
    res.set({ 'Cache-Control': 'no-store', Location: url, 'X-Orchard-Download': 'redirect' }).status(307).end();
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
    res.status(200);
    return false;
  }
  await pipeline(blob.body, res).catch((err: unknown) => {
    if (!bodyDelivered(res) && !controller.signal.aborted) throw err;
  });
  if (bodyDelivered(res)) metrics.bytesServed.inc({ source: 'storage' }, length);
  return true;
}

/**
 * Sends a small body held in memory (PEP 658 metadata) with the same semantics as a stored file:
 * strong ETag (the body's sha256), 304, one byte range, HEAD, immutable caching.
 */
export function sendBuffer(
  req: Request,
  res: Response,
  body: Buffer,
  file: { sha256: string; filename: string; contentType: string; /** Instead of immutable caching. */ cacheControl?: string },
): void {
  const range = prepare(req, res, { sha256: file.sha256, size: body.length, contentType: file.contentType, filename: file.filename, cacheControl: file.cacheControl });
  if (range === 'done') return;
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  res.end(range ? body.subarray(range.start, range.end + 1) : body);
}

/**
 * Sets the representation headers, then answers 304 (returns 'done') or settles the status and
 * Content-Length for the whole body (returns null) or one satisfiable range (returns it). An
 * unsatisfiable range throws 416; a malformed or multi-range header gets the whole body, as RFC 9110
 * allows.
 */
/**
 * The representation headers of every file answer — served from storage, followed from a fetcher or
 * passed through from an upstream: strong ETag (the sha256), `attachment` disposition, no sniffing.
 */
export function fileHeaders(file: { sha256: string; filename: string; contentType: string; cacheControl: string; acceptRanges: boolean }): { ETag: string } & Record<string, string> {
  return {
    ETag: `"${file.sha256}"`,
    'Cache-Control': file.cacheControl,
    ...(file.acceptRanges ? { 'Accept-Ranges': 'bytes' } : {}),
    'Content-Type': file.contentType,
    'Content-Disposition': `attachment; filename="${file.filename.replace(/["\\]/g, '')}"`,
    'X-Content-Type-Options': 'nosniff',
  };
}

/** Caching of a verified file: its bytes never change under its URL. */
export const IMMUTABLE_FILE = 'public, max-age=31536000, immutable';

function prepare(
  req: Request,
  res: Response,
  file: { sha256: string; size: number; contentType: string; filename: string; cacheControl?: string },
): ByteRange | null | 'done' {
  const headers = fileHeaders({ ...file, cacheControl: file.cacheControl ?? IMMUTABLE_FILE, acceptRanges: true });
  res.set(headers);
  if (matchesEtag(req.headers['if-none-match'], headers.ETag)) {
    res.status(304).end();
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
  res.status(range ? 206 : 200).set('Content-Length', String(length));
  if (range) res.set('Content-Range', `bytes ${range.start}-${range.end}/${file.size}`);
  return range;
}

/** RFC 9110 If-None-Match: weak comparison, `*` matches any current representation. */
export function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === bare);
}
