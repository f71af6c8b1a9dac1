import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { FileSource } from '../../libs/cache/index.js';
import type { UpstreamConfig } from '../../libs/config/index.js';
import { UpstreamError, asUpstreamError, statusError, type UpstreamClient } from '../../libs/http/index.js';
import type { Metrics } from '../../libs/metrics/index.js';
import { VerifyingStream, listedFileDigest } from '../../libs/storage/index.js';
import { bodyDelivered } from './body-delivery.js';
import { HttpError } from './http-errors.js';
import { fileHeaders, setHeaders } from './send-file.js';

/**
 * Streams a file straight from its upstream to the client (its fetch job completes the cached copy
 * meanwhile), so a large file never leaves a client waiting on a silent socket. Only the headers
 * Orchard vouches for are sent; the upstream's encoding and range headers are never forwarded.
 *
 * The bytes are hashed on the way through and the last chunk is held back until the sha256 is
 * known: bytes that do not match what the page published never reach the client complete (the
 * response is cut off, so the client sees a failed download rather than a wrong file). A file
 * larger than `maxFileBytes` (ORCHARD_MAX_FILE_BYTES) is refused when its Content-Length says so,
 * and cut off before more than that many bytes are sent when it does not.
 */
export async function streamFromUpstream(
  req: IncomingMessage,
  res: ServerResponse,
  http: UpstreamClient,
  upstream: UpstreamConfig | undefined,
  source: FileSource,
  sha256: string,
  metrics: Metrics,
  maxFileBytes: number,
): Promise<void> {
  if (!upstream) throw new HttpError(502, 'upstream_removed', `upstream ${source.upstream} is no longer configured`);
  const controller = new AbortController();
  res.once('close', () => controller.abort());
  let response;
  try {
    response = await http.get(upstream, source.url, {
      headers: { 'accept-encoding': 'identity' },
      signal: controller.signal,
      method: req.method === 'HEAD' ? 'HEAD' : 'GET',
    });
  } catch (err) {
    metrics.upstreamRequests.inc({ upstream: upstream.name, kind: 'file', outcome: 'error' });
    if (err instanceof UpstreamError) throw new HttpError(err.failure === 'timeout' ? 504 : 502, 'upstream_failed', `could not fetch ${source.filename}: ${err.message}`);
    throw err;
  }
  metrics.upstreamRequests.inc({ upstream: upstream.name, kind: 'file', outcome: response.status === 200 ? 'ok' : 'error' });
  if (response.status !== 200) {
    response.body.resume();
    throw new HttpError(502, 'upstream_status', statusError(upstream, response.url, response.status, source.filename).message);
  }
  const encoding = response.headers['content-encoding'];
  if (encoding && encoding !== 'identity') {
    response.body.resume();
    throw new HttpError(502, 'upstream_encoding', `upstream ${upstream.name} sent ${source.filename} with content-encoding ${String(encoding)}`);
  }
  const length = response.headers['content-length'];
  if (typeof length === 'string' && /^\d+$/.test(length) && Number(length) > maxFileBytes) {
    response.body.destroy();
    throw tooLarge(source.filename, maxFileBytes);
  }
  res.statusCode = 200;
  setHeaders(res, fileHeaders({ sha256, filename: source.filename, contentType: 'application/octet-stream', cacheControl: 'no-store', acceptRanges: false }));
  res.setHeader('X-Orchard-Cache', 'pass-through');
  if (typeof length === 'string' && /^\d+$/.test(length)) res.setHeader('Content-Length', length);
  if (req.method === 'HEAD') {
    response.body.resume();
    res.end();
    return;
  }
  const verify = new VerifyingStream({ expected: listedFileDigest(sha256, source.digest), maxBytes: maxFileBytes, holdLastChunk: true });
  await pipeline(response.body, verify, res).catch((err: unknown) => {
    // Headers are out: the error handler can only cut the connection, which is the point.
    if (verify.mismatch) {
      metrics.hashMismatches.inc({ upstream: upstream.name });
      throw new HttpError(502, 'hash_mismatch', `${source.filename} from upstream ${upstream.name} does not match its published ${source.digest?.algorithm ?? 'sha256'}`);
    }
    if (verify.tooLarge) throw tooLarge(source.filename, maxFileBytes);
    if (bodyDelivered(res) || controller.signal.aborted) return;
    // The upstream broke off (closed, reset, timed out) mid-file: its failure, reported as such.
    const failure = asUpstreamError(err, upstream.name);
    if (!(failure instanceof UpstreamError)) throw err;
    throw new HttpError(
      failure.failure === 'timeout' ? 504 : 502,
      'upstream_failed',
      `could not fetch ${source.filename}: the download from upstream ${upstream.name} broke off (${failure.failure})`,
    );
  });
  if (bodyDelivered(res)) metrics.bytesServed.inc({ source: 'upstream' }, verify.bytesSeen);
}

function tooLarge(filename: string, limit: number): HttpError {
  return new HttpError(502, 'file_too_large', `${filename} is larger than ORCHARD_MAX_FILE_BYTES (${limit} bytes)`);
}
