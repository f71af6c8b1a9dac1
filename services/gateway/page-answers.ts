import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UpstreamError } from '../../libs/http/index.js';
import type { RootVariant } from '../../libs/cache/index.js';
import type { ProjectPages, RootPages } from '../../libs/pages/index.js';
import type { PageFormat, ProtocolAdapter } from '../../libs/protocol/index.js';
import type { View, ViewPages } from '../../libs/views/index.js';
import { HttpError, notFound } from './http-errors.js';
import { PageNegotiation, variantEtag, type ChosenVariant, type Variant, type VariantRequest } from './page-variant.js';
import { ReadMemo, type MemoPage, type PageHeaders } from './read-memo.js';
import { isFresh } from './send-file.js';

export interface PageAnswersDeps {
  protocol: ProtocolAdapter;
  pages: ProjectPages;
  indexTtlSeconds: number;
  memo: ReadMemo;
  /** The root `/simple/` list; absent, `/simple/` is a 404. */
  root?: RootPages;
  rootTtlSeconds: number;
  /** Pages as policy views show them. */
  views?: ViewPages;
}

/** What one page answer is written from: a fresh memo entry or the page cache's answer. */
interface PageToSend {
  body: Buffer;
  etag: string;
  upstream: string;
  cache: string;
  ageSeconds?: number;
}

/**
 * `/simple/<project>/` and `/simple/`: PEP 503 HTML and PEP 691 JSON from one cached, pre-rendered
 * page per project. Fresh hits are remembered in the {@link ReadMemo} for `ORCHARD_PAGE_MEMO_MS`;
 * a remembered page is written by the same code as one just read from Redis.
 */
export class PageAnswers {
  private readonly negotiation: PageNegotiation;
  /** Headers of view pages answered as fresh hits, by body (one per representation of a build). */
  private readonly viewHeads = new WeakMap<Buffer, PageHeaders>();

  constructor(private readonly deps: PageAnswersDeps) {
    this.negotiation = new PageNegotiation(deps.protocol);
  }

  get hasRoot(): boolean {
    return this.deps.root !== undefined;
  }

  /**
   * Answers from the memo when it holds this page in the negotiated representation; false when it
   * does not. Only canonical, valid names are ever remembered, so `name` needs no check first.
   */
  remembered(req: IncomingMessage, res: ServerResponse, name: string, request: VariantRequest): boolean {
    if (!this.deps.memo.pagesEnabled) return false;
    const chosen = this.negotiation.pick(request);
    if (!chosen) return false;
    const { variant, contentType, encoding } = chosen;
    const remembered = this.deps.memo.page(ReadMemo.pageKey(name, variant));
    if (!remembered) return false;
    PageNegotiation.vary(res);
    // The headers of a remembered answer are made once per entry (a memo key is one representation).
    remembered.head ??= this.headers({ ...remembered, cache: 'hit' }, variant, contentType, encoding);
    this.send(req, res, remembered.head, remembered.body);
    return true;
  }

  /** A project page (canonical name) from the page cache, remembered when fresh. */
  project(req: IncomingMessage, res: ServerResponse, project: string, request: VariantRequest): Promise<void> {
    const chosen = this.negotiation.choose(request, res);
    return this.fromCache(req, res, project, ReadMemo.pageKey(project, chosen.variant), chosen);
  }

  private async fromCache(req: IncomingMessage, res: ServerResponse, project: string, key: string, chosen: ChosenVariant): Promise<void> {
    const { memo } = this.deps;
    const { variant, contentType, encoding } = chosen;
    const answer = await this.deps.pages.serve(project, variant).catch(upstreamFailed(project));
    if (answer.status === 'missing') {
      res.setHeader('X-Orchard-Cache', answer.cache);
      throw notFound(`project ${project} not found on any configured upstream`);
    }
    const page: PageToSend = { body: answer.body, etag: answer.meta.etag, upstream: answer.meta.upstream ?? '', cache: answer.cache, ageSeconds: answer.ageSeconds };
    // A fresh hit with more than the memo's lifetime of freshness left is remembered.
    if (memo.pagesEnabled && answer.cache === 'hit') {
      const age = (answer.ageSeconds ?? this.deps.indexTtlSeconds) + 1;
      if ((this.deps.indexTtlSeconds - age) * 1000 > memo.pageTtlMs) memo.putPage(key, pageEntry(page));
    }
    this.send(req, res, this.headers(page, variant, contentType, encoding), page.body);
  }

  /** A project page (canonical name) as a policy view shows it. */
  async viewProject(req: IncomingMessage, res: ServerResponse, view: View, project: string, request: VariantRequest): Promise<void> {
    const { variant, contentType, encoding } = this.negotiation.choose(request, res);
    const answer = await this.views().project(view, project, variant).catch(upstreamFailed(project));
    if (answer.status === 'outside') throw notFound(`project ${project} is not in view ${view.name}`);
    if (answer.status === 'missing') {
      res.setHeader('X-Orchard-Cache', answer.cache);
      throw notFound(`project ${project} not found on any configured upstream`);
    }
    let head = answer.cache === 'hit' ? this.viewHeads.get(answer.body) : undefined;
    if (!head) {
      head = this.headers(answer, variant, contentType, encoding);
      if (answer.cache === 'hit') this.viewHeads.set(answer.body, head);
    }
    this.send(req, res, head, answer.body);
  }

  /** `/v/<view>/simple/`: the root list without the projects the view leaves out (identity encoding). */
  async viewRoot(req: IncomingMessage, res: ServerResponse, view: View, request: VariantRequest): Promise<void> {
    const chosen = this.negotiation.choose(request, res);
    const format = chosen.variant.split('.')[0] as PageFormat;
    const answer = await this.views().root(view, format);
    if (!answer) return this.root(req, res, request);
    if (answer.etag === undefined) {
      // Redis is down: rendered for this request only, as the plain list is then.
      res.writeHead(200, { 'X-Orchard-Cache': answer.cache, 'Content-Type': chosen.contentType, 'Cache-Control': 'no-cache', 'Content-Length': String(answer.body.length) });
      res.end(req.method === 'HEAD' ? undefined : answer.body);
      return;
    }
    const etag = variantEtag(answer.etag, format);
    const common = ['X-Orchard-Cache', answer.cache, 'ETag', etag, 'Content-Type', chosen.contentType, 'Cache-Control', `public, max-age=${this.deps.rootTtlSeconds}`];
    this.send(req, res, { etag, notModified: common, whole: [...common, 'Content-Length', String(answer.body.length)] }, answer.body);
  }

  private views(): ViewPages {
    if (!this.deps.views) throw notFound('not found');
    return this.deps.views;
  }

  /** The headers of a page answer. */
  private headers(page: PageToSend, variant: Variant, contentType: string, encoding: string | null): PageHeaders {
    const etag = variantEtag(page.etag, variant);
    const common = [
      'X-Orchard-Cache',
      page.cache,
      'ETag',
      etag,
      'Content-Type',
      contentType,
      'Cache-Control',
      `public, max-age=${this.deps.indexTtlSeconds}`,
      'X-Orchard-Upstream',
      page.upstream,
    ];
    // A stale page says how long ago Orchard last heard from the upstream about it (RFC 9111 Age).
    if (page.cache.startsWith('stale') && page.ageSeconds !== undefined) common.push('Age', String(page.ageSeconds));
    // A 304 repeats the ETag (pip and uv store it); it has no body, so no Content-Encoding.
    return { etag, notModified: common, whole: [...common, ...(encoding ? ['Content-Encoding', encoding] : []), 'Content-Length', String(page.body.length)] };
  }

  private send(req: IncomingMessage, res: ServerResponse, headers: PageHeaders, body: Buffer): void {
    if (isFresh(req, headers.etag)) {
      res.writeHead(304, headers.notModified);
      res.end();
      return;
    }
    res.writeHead(200, headers.whole);
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  /** `/simple/`: the list of every project the upstreams know, streamed from Redis. */
  async root(req: IncomingMessage, res: ServerResponse, request: VariantRequest): Promise<void> {
    const root = this.deps.root;
    if (!root) throw notFound('not found');
    const { variant, contentType, encoding } = this.negotiation.choose(request, res);
    // Only protocols with a root list (HTML and JSON pages) have root pages.
    const answer = await root.serve(variant as RootVariant);
    res.setHeader('Content-Type', contentType);
    if (answer.kind === 'uncached') {
      // Redis is down: rendered from the upstreams for this request, uncompressed, length unknown.
      res.setHeader('X-Orchard-Cache', 'uncached');
      res.setHeader('Cache-Control', 'no-cache');
      res.statusCode = 200;
      await stream(req, res, answer.body);
      return;
    }
    const etag = variantEtag(answer.meta.etag, variant);
    res.setHeader('ETag', etag);
    res.setHeader('Cache-Control', `public, max-age=${this.deps.rootTtlSeconds}`);
    res.setHeader('X-Orchard-Cache', answer.cache);
    if (isFresh(req, etag)) {
      res.statusCode = 304;
      res.end();
      return;
    }
    if (encoding) res.setHeader('Content-Encoding', encoding);
    res.setHeader('Content-Length', String(answer.length));
    res.statusCode = 200;
    await stream(req, res, answer.body());
  }
}

/** A page no upstream could give and none is cached: 502, or 504 when it timed out. */
function upstreamFailed(project: string): (err: unknown) => never {
  return (err) => {
    if (!(err instanceof UpstreamError)) throw err;
    throw new HttpError(err.failure === 'timeout' ? 504 : 502, 'upstream_failed', `no cached page for ${project} and ${err.message}`);
  };
}

function pageEntry(page: PageToSend): MemoPage {
  return { kind: 'page', body: page.body, etag: page.etag, upstream: page.upstream };
}

/** Streams with backpressure; a client that goes away stops the reads. */
async function stream(req: IncomingMessage, res: ServerResponse, body: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<void> {
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await pipeline(Readable.from(body), res).catch((err: unknown) => {
    if (!res.headersSent) throw err;
    // The client went away, or the source broke after the headers: only the connection can say so
    // (the access log and metrics count the answer as cut off).
    res.destroy();
  });
}
