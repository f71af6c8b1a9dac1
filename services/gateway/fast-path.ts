import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../libs/log/index.js';
import type { Metrics } from '../../libs/metrics/index.js';
import type { ProtocolAdapter } from '../../libs/protocol/index.js';
import { FileMemo } from './file-memo.js';
import { negotiateEncoding } from './negotiate.js';
import { PageMemo } from './page-memo.js';
import { recordRequest, requestId } from './request-context.js';
import { replayResponse, type MemoizedResponse } from './response-memo.js';

export interface FastPathDeps {
  /** The protocol the memoised pages are in (it negotiates their format). */
  protocol: ProtocolAdapter;
  memo: PageMemo;
  files: FileMemo;
  logger: Logger;
  metrics: Metrics;
}

interface Negotiated {
  contentType: string;
  encoding: 'gzip' | 'br' | null;
}

/** Distinct Accept/Accept-Encoding pairs remembered (clients send a handful). */
const NEGOTIATION_CACHE = 256;
const PAGES = '/simple/';
/** `/files/<canonical project>/<sha256>/<filename>`, exactly as Orchard's pages link them. */
const FILE_URL = /^\/files\/[a-z0-9]+(?:-[a-z0-9]+)*\/[0-9a-f]{64}\/([A-Za-z0-9][A-Za-z0-9._+!-]{0,254})$/;
const METADATA_SUFFIX = '.metadata';

/**
 * Warm hits on bare node:http, in front of express:
 *
 * - `GET`/`HEAD /simple/<project>/` (no query) whose representation the {@link PageMemo} holds;
 * - `GET`/`HEAD` of a cached file or `.metadata` file the {@link FileMemo} holds, without `Range`.
 *
 * Each is answered with exactly the headers and body express sent for it (negotiation, `Vary`,
 * `ETag` and 304, `HEAD`, encodings, `X-Orchard-*`), plus the request id, metrics and access log
 * every request gets. Anything else — misses, redirects, 406s, queries, ranges — goes to express.
 * Profiles showed express routing, AsyncLocalStorage, the per-hit Redis round trip and, for files,
 * the storage open/stat/read/close dominating these hits.
 */
export class FastPath {
  private readonly negotiated = new Map<string, Negotiated | null>();

  constructor(private readonly deps: FastPathDeps) {}

  /** Answers the request and returns true, or returns false (untouched) for express to handle. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url;
    if (url === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    if (url.startsWith(PAGES)) return this.page(req, res, url);
    if (url.startsWith('/files/')) return this.file(req, res, url);
    return false;
  }

  private page(req: IncomingMessage, res: ServerResponse, url: string): boolean {
    const { memo } = this.deps;
    if (!memo.enabled || url.length <= PAGES.length + 1 || url.charCodeAt(url.length - 1) !== 47 /* / */) return false;
    const project = url.slice(PAGES.length, -1);
    // Only canonical names were memoised; anything odd (a query, an escape, a deeper path) is express's.
    if (project.includes('/') || project.includes('?') || project.includes('%')) return false;
    const chosen = this.negotiate(req.headers.accept, req.headers['accept-encoding']);
    if (!chosen) return false;
    const entry = memo.get(PageMemo.key(project, chosen.contentType, chosen.encoding));
    if (!entry) return false;
    this.deps.metrics.cacheLookups.inc({ category: 'index', result: 'hit' });
    this.answer(req, res, url, 'simple_project', entry);
    return true;
  }

  private file(req: IncomingMessage, res: ServerResponse, url: string): boolean {
    const { files, metrics } = this.deps;
    // A range is rare (resumed downloads) and express handles its 206/416/If-Range rules.
    if (!files.enabled || req.headers.range !== undefined) return false;
    const match = FILE_URL.exec(url);
    if (!match) return false;
    const metadata = match[1]!.endsWith(METADATA_SUFFIX);
    const entry = files.get(url);
    if (!entry) return false;
    if (!metadata) {
      metrics.cacheLookups.inc({ category: 'artifact', result: 'hit' });
      // A 304 or a HEAD sends no body.
      res.once('finish', () => {
        if (req.method === 'GET' && res.statusCode === 200) metrics.bytesServed.inc({ source: 'memory' }, entry.body.length);
      });
    }
    this.answer(req, res, url, metadata ? 'metadata' : 'file', entry);
    return true;
  }

  private answer(req: IncomingMessage, res: ServerResponse, url: string, route: string, entry: MemoizedResponse): void {
    const id = requestId(req);
    recordRequest(this.deps.logger, this.deps.metrics, req, res, id, () => url, () => route);
    replayResponse(req, res, entry, id);
  }

  private negotiate(accept: string | undefined, acceptEncoding: string | undefined): Negotiated | null {
    const key = `${accept ?? ''}\n${acceptEncoding ?? ''}`;
    const known = this.negotiated.get(key);
    if (known !== undefined) return known;
    const format = this.deps.protocol.negotiatePageFormat(accept);
    const result = format ? { contentType: format.contentType, encoding: negotiateEncoding(acceptEncoding) } : null;
    if (this.negotiated.size >= NEGOTIATION_CACHE) this.negotiated.clear();
    this.negotiated.set(key, result);
    return result;
  }
}
