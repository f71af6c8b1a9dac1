import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Router, type Request, type Response } from 'express';
import type { RootPages } from '../../../libs/pages/index.js';
import type { ProtocolAdapter } from '../../../libs/protocol/index.js';
import { choosePageVariant, variantEtag } from '../page-variant.js';
import { matchesEtag } from '../send-file.js';

export interface RootRoutesDeps {
  protocol: ProtocolAdapter;
  root: RootPages;
  rootTtlSeconds: number;
}

/** `/simple/`: the list of every project the upstreams know, in the formats the protocol serves. */
export function rootRoutes(deps: RootRoutesDeps): Router {
  const router = Router({ strict: true });
  router.get('/simple', (req, res) => {
    res.locals.route = 'simple_root';
    const query = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?')) : '';
    res.redirect(301, `/simple/${query}`);
  });
  router.get('/simple/', async (req, res) => {
    res.locals.route = 'simple_root';
    await serveRoot(req, res, deps);
  });
  return router;
}

async function serveRoot(req: Request, res: Response, deps: RootRoutesDeps): Promise<void> {
  const { variant, contentType, encoding } = choosePageVariant(req, res, deps.protocol);
  const answer = await deps.root.serve(variant);
  res.set('Content-Type', contentType);
  if (answer.kind === 'uncached') {
    // Redis is down: rendered from the upstreams for this request, uncompressed, length unknown.
    res.set({ 'X-Orchard-Cache': 'uncached', 'Cache-Control': 'no-cache' });
    res.status(200);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await stream(res, answer.body);
    return;
  }
  const etag = variantEtag(answer.meta.etag, variant);
  res.set({ ETag: etag, 'Cache-Control': `public, max-age=${deps.rootTtlSeconds}`, 'X-Orchard-Cache': answer.cache });
  if (matchesEtag(req.headers['if-none-match'], etag)) {
    res.status(304).end();
    return;
  }
  if (encoding) res.set('Content-Encoding', encoding);
  res.set('Content-Length', String(answer.length)).status(200);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await stream(res, answer.body());
}

/** Streams with backpressure; a client that goes away stops the reads. */
async function stream(res: Response, body: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<void> {
  await pipeline(Readable.from(body), res).catch((err: unknown) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    throw err;
  });
}
