import { Router, type Request, type Response } from 'express';
import type { ProjectPages } from '../../../libs/pages/index.js';
import type { ProtocolAdapter } from '../../../libs/protocol/index.js';
import { UpstreamError } from '../../../libs/http/index.js';
import { HttpError, badRequest, notFound } from '../http-errors.js';
import { choosePageVariant, variantEtag } from '../page-variant.js';
import { matchesEtag } from '../send-file.js';
import { PageMemo } from '../page-memo.js';

export interface SimpleRoutesDeps {
  protocol: ProtocolAdapter;
  pages: ProjectPages;
  indexTtlSeconds: number;
  /** Remembers fresh hits for the fast path (see FastPath); absent, nothing is memoised. */
  memo?: PageMemo;
}

/** `/simple/<project>/`: PEP 503 HTML and PEP 691 JSON from one cached, pre-rendered page. */
export function simpleRoutes(deps: SimpleRoutesDeps): Router {
  const router = Router({ strict: true });
  router.get('/simple/:project', (req, res) => {
    res.locals.route = 'simple_project';
    redirectToCanonical(req, res, deps.protocol, String(req.params.project));
  });
  router.get('/simple/:project/', async (req, res) => {
    res.locals.route = 'simple_project';
    const raw = String(req.params.project);
    if (!deps.protocol.isValidProjectName(raw)) throw badRequest('invalid project name');
    const project = deps.protocol.normalizeName(raw);
    if (project !== raw) return redirectToCanonical(req, res, deps.protocol, raw);
    await servePage(req, res, deps, project);
  });
  return router;
}

function redirectToCanonical(req: Request, res: Response, protocol: ProtocolAdapter, raw: string): void {
  if (!protocol.isValidProjectName(raw)) throw badRequest('invalid project name');
  const query = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?')) : '';
  res.redirect(301, `/simple/${protocol.normalizeName(raw)}/${query}`);
}

async function servePage(req: Request, res: Response, deps: SimpleRoutesDeps, project: string): Promise<void> {
  const { variant, contentType, encoding } = choosePageVariant(req, res, deps.protocol);
  const memo = deps.memo;
  let answer;
  try {
    answer = await deps.pages.serve(project, variant);
  } catch (err) {
    if (err instanceof UpstreamError) {
      const status = err.failure === 'timeout' ? 504 : 502;
      throw new HttpError(status, 'upstream_failed', `no cached page for ${project} and ${err.message}`);
    }
    throw err;
  }
  res.set('X-Orchard-Cache', answer.cache);
  if (answer.status === 'missing') throw notFound(`project ${project} not found on any configured upstream`);
  const etag = variantEtag(answer.meta.etag, variant);
  res.set({
    ETag: etag,
    'Content-Type': contentType,
    'Cache-Control': `public, max-age=${deps.indexTtlSeconds}`,
    'X-Orchard-Upstream': answer.meta.upstream ?? '',
  });
  // A stale page says how long ago Orchard last heard from the upstream about it (RFC 9111 Age).
  if (answer.cache.startsWith('stale') && answer.ageSeconds !== undefined) res.set('Age', String(answer.ageSeconds));
  if (matchesEtag(req.headers['if-none-match'], etag)) {
    // A 304 repeats the ETag (pip and uv store it); it has no body, so no Content-Encoding.
    res.status(304).end();
    return;
  }
  if (encoding) res.set('Content-Encoding', encoding);
  res.set('Content-Length', String(answer.body.length));
  // A fresh hit with more than the memo's lifetime of freshness left is remembered for the fast
  // path (a query such as `format` is always negotiated here).
  if (memo?.enabled && answer.cache === 'hit' && !req.originalUrl.includes('?')) {
    const age = (answer.ageSeconds ?? deps.indexTtlSeconds) + 1;
    if ((deps.indexTtlSeconds - age) * 1000 > memo.ttlMs) memo.put(PageMemo.key(project, contentType, encoding), res.getHeaders(), etag, answer.body);
  }
  res.status(200).end(req.method === 'HEAD' ? undefined : answer.body);
}
