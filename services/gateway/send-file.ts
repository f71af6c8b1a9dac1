import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import parseRange from 'range-parser';
import type { BlobStore } from '../../libs/storage/index.js';
import type { Metrics } from '../../libs/metrics/index.js';
import { HttpError } from './http-errors.js';

export interface SendFileOptions {
  key: string;
  sha256: string;
  filename: string;
  contentType: string;
  /** Known size, saving a stat when the cache already told us. */
  size?: number;
}

const IMMUTABLE = 'public, max-age=31536000, immutable';

/**
 * Streams a stored, verified object with the HTTP semantics clients rely on: strong ETag (the
 * sha256), 304 on If-None-Match, one byte range (206/416, honouring If-Range), HEAD with the same
 * Content-Length as GET, never content-encoded. Returns false when the object is not in the store.
 */
export async function sendStoredFile(req: Request, res: Response, store: BlobStore, metrics: Metrics, file: SendFileOptions): Promise<boolean> {
  const etag = `"${file.sha256}"`;
  const size = file.size ?? (await store.stat(file.key))?.size;
  if (size === undefined) return false;
  res.set({
    ETag: etag,
    'Cache-Control': IMMUTABLE,
    'Accept-Ranges': 'bytes',
    'Content-Type': file.contentType,
    'Content-Disposition': `attachment; filename="${file.filename.replace(/["\\]/g, '')}"`,
    'X-Content-Type-Options': 'nosniff',
  });
  if (matchesEtag(req.headers['if-none-match'], etag)) {
    res.status(304).end();
    return true;
  }
  let range: { start: number; end: number } | undefined;
  const rangeHeader = req.headers.range;
  const ifRange = req.headers['if-range'];
  if (rangeHeader && (!ifRange || ifRange === etag)) {
    const parsed = parseRange(size, rangeHeader, { combine: true });
    if (parsed === -1) {
      throw new HttpError(416, 'range_not_satisfiable', 'range not satisfiable', { 'Content-Range': `bytes */${size}` });
    }
    // -2 (malformed) and multiple ranges: serve the whole file, as RFC 9110 allows.
    if (parsed !== -2 && parsed.type === 'bytes' && parsed.length === 1) range = parsed[0];
  }
  const length = range ? range.end - range.start + 1 : size;
  res.status(range ? 206 : 200).set('Content-Length', String(length));
  if (range) res.set('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
  if (req.method === 'HEAD') {
    res.end();
    return true;
  }
  const controller = new AbortController();
  res.once('close', () => controller.abort());
  const blob = await store.get(file.key, { range, signal: controller.signal });
  if (!blob) {
    res.removeHeader('Content-Length');
    return false;
  }
  await pipeline(blob.body, res).catch((err: unknown) => {
    if (!res.writableFinished && !controller.signal.aborted) throw err;
  });
  if (res.writableFinished) metrics.bytesServed.inc({ source: 'storage' }, length);
  return true;
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

export { matchesEtag };
