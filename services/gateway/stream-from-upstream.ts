import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import type { FileSource } from '../../libs/cache/index.js';
import type { UpstreamConfig } from '../../libs/config/index.js';
import type { UpstreamClient } from '../../libs/http/index.js';
import type { Metrics } from '../../libs/metrics/index.js';
import { HttpError } from './http-errors.js';

/**
 * Streams a file straight from its upstream to the client (its fetch job completes the cached copy
 * meanwhile), so a large file never leaves a client waiting on a silent socket. Only the headers
 * Orchard vouches for are sent; the upstream's encoding and range headers are never forwarded.
 */
export async function streamFromUpstream(
  req: Request,
  res: Response,
  http: UpstreamClient,
  upstream: UpstreamConfig | undefined,
  source: FileSource,
  sha256: string,
  metrics: Metrics,
): Promise<void> {
  if (!upstream) throw new HttpError(502, 'upstream_removed', `upstream ${source.upstream} is no longer configured`);
  const controller = new AbortController();
  res.once('close', () => controller.abort());
  const response = await http.get(upstream, source.url, {
    headers: { 'accept-encoding': 'identity' },
    signal: controller.signal,
    method: req.method === 'HEAD' ? 'HEAD' : 'GET',
  });
  metrics.upstreamRequests.inc({ upstream: upstream.name, kind: 'file', outcome: response.status === 200 ? 'ok' : 'error' });
  if (response.status !== 200) {
    response.body.resume();
    throw new HttpError(502, 'upstream_status', `upstream ${upstream.name} answered ${response.status} for ${source.filename}`);
  }
  const length = response.headers['content-length'];
  res.status(200).set({
    ETag: `"${sha256}"`,
    'Content-Type': 'application/octet-stream',
    'Cache-Control': 'no-store',
    'X-Orchard-Cache': 'pass-through',
  });
  if (typeof length === 'string' && /^\d+$/.test(length)) res.set('Content-Length', length);
  if (req.method === 'HEAD') {
    response.body.resume();
    res.end();
    return;
  }
  let sent = 0;
  response.body.on('data', (chunk: Buffer) => {
    sent += chunk.length;
  });
  await pipeline(response.body, res).catch((err: unknown) => {
    if (!controller.signal.aborted) throw err;
  });
  metrics.bytesServed.inc({ source: 'upstream' }, sent);
}
