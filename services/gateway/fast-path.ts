import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../libs/log/index.js';
import type { Metrics } from '../../libs/metrics/index.js';
import { negotiateEncoding, negotiatePageFormat } from './negotiate.js';
import { PageMemo } from './page-memo.js';
import { recordRequest, requestId } from './request-context.js';
import { matchesEtag } from './send-file.js';

export interface FastPathDeps {
  memo: PageMemo;
  logger: Logger;
  metrics: Metrics;
}

interface Negotiated {
  contentType: string;
  encoding: 'gzip' | 'br' | null;
}

/** Distinct Accept/Accept-Encoding pairs remembered (clients send a handful). */
const NEGOTIATION_CACHE = 256;
const PREFIX = '/simple/';

/**
 * The warm page hit path on bare node:http, in front of express: a `GET`/`HEAD` of
 * `/simple/<project>/` (no query) whose representation the {@link PageMemo} holds is answered here
 * with exactly the headers and body express sent for it moments ago (negotiation, `Vary`, `ETag`
 * and 304, `HEAD`, encodings, `X-Orchard-Cache`/`X-Orchard-Upstream`), plus the request id, metrics
 * and access log every request gets. Anything else — misses, redirects, 406s, queries, files — goes
 * to express. Profiles showed express routing and the per-hit Redis round trip dominating the hit.
 */
export class FastPath {
  private readonly negotiated = new Map<string, Negotiated | null>();

  constructor(private readonly deps: FastPathDeps) {}

  /** Answers the request and returns true, or returns false (untouched) for express to handle. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const { memo } = this.deps;
    if (!memo.enabled) return false;
    const url = req.url;
    if (url === undefined || !url.startsWith(PREFIX) || url.length <= PREFIX.length + 1 || url.charCodeAt(url.length - 1) !== 47 /* / */) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const project = url.slice(PREFIX.length, -1);
    // Only canonical names were memoised; anything odd (a query, an escape, a deeper path) is express's.
    if (project.includes('/') || project.includes('?') || project.includes('%')) return false;
    const chosen = this.negotiate(req.headers.accept, req.headers['accept-encoding']);
    if (!chosen) return false;
    const entry = memo.get(PageMemo.key(project, chosen.contentType, chosen.encoding));
    if (!entry) return false;

    const { logger, metrics } = this.deps;
    const id = requestId(req);
    recordRequest(logger, metrics, req, res, id, () => url, () => 'simple_project');
    metrics.cacheLookups.inc({ category: 'index', result: 'hit' });
    const notModified = matchesEtag(req.headers['if-none-match'], entry.etag);
    const headers = notModified ? entry.notModifiedHeaders : entry.headers;
    for (let i = 0; i < headers.length; i++) res.setHeader(headers[i]![0], headers[i]![1]);
    res.setHeader('x-request-id', id);
    res.statusCode = notModified ? 304 : 200;
    if (notModified || req.method === 'HEAD') res.end();
    else res.end(entry.body);
    return true;
  }

  private negotiate(accept: string | undefined, acceptEncoding: string | undefined): Negotiated | null {
    const key = `${accept ?? ''}\n${acceptEncoding ?? ''}`;
    const known = this.negotiated.get(key);
    if (known !== undefined) return known;
    const format = negotiatePageFormat(accept);
    const result = format ? { contentType: format.contentType, encoding: negotiateEncoding(acceptEncoding) } : null;
    if (this.negotiated.size >= NEGOTIATION_CACHE) this.negotiated.clear();
    this.negotiated.set(key, result);
    return result;
  }
}
