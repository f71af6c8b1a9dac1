import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../libs/log/index.js';
import type { ProtocolAdapter } from '../../libs/protocol/index.js';
import { isSha256Hex } from '../../libs/storage/index.js';
import { ViewsUnavailableError, describeView as viewDescription, type View, type ViewPages, type ViewRegistry } from '../../libs/views/index.js';
import type { FileAnswers } from './file-answers.js';
import { HttpError, answerError, badRequest, notFound, type ErrorShape } from './http-errors.js';
import type { PageAnswers } from './page-answers.js';
import type { VariantRequest } from './page-variant.js';
import { setRoute } from './request-context.js';

export interface ReadPathDeps {
  /** The protocol the index routes serve (it validates and normalises project names). */
  protocol: ProtocolAdapter;
  /** The path prefix the protocol is served under ('' for PEP 503's `/simple/` and `/files/`, e.g. `/npm`). */
  prefix: string;
  pages: PageAnswers;
  files: FileAnswers;
  /** Policy views (`/v/<view>/…`); absent, `/v/` is not a route. */
  views?: { registry: ViewRegistry; pages: ViewPages };
  logger: Logger;
}

const SIMPLE = '/simple';
const FILES = '/files/';
const VIEWS = '/v/';
/** npm's file URLs under its prefix (`-` is no package name). */
const REGISTRY_FILES = '/-/files/';
const REGISTRY_PING = '/-/ping';
const FILENAME = /^[A-Za-z0-9][A-Za-z0-9._+!-]{0,254}$/;
const METADATA = '.metadata';

/**
 * The one implementation of the index and file routes of a protocol, on bare node:http (express,
 * with its routing and per-request wrapping, serves the JSON API, admin and ops routes). PEP 503
 * paths (PyPI, at the root):
 *
 * - `GET`/`HEAD /simple/` (root list) and `/simple/<project>/` (project page; `/simple` and
 *   `/simple/<Name>` redirect to the canonical URL, keeping the query);
 * - `GET`/`HEAD /files/<project>/<sha256>/<filename>` and its `.metadata` sibling;
 * - the same under a policy view, `/v/<view>/simple/…` and `/v/<view>/files/…` (a file the view
 *   does not list is a 404, never fetched), and `/v/<view>/`, which describes the view.
 *
 * npm paths, under the protocol's prefix (e.g. `/npm`): `/<name>` and `/@scope/<name>` (or
 * `/@scope%2f<name>`) for packuments, `/-/files/<name>/<id>/<file>.tgz` for tarballs (the URLs the
 * packuments give), `/-/ping`.
 *
 * Every failure is answered by the same error writer as express's ({@link answerError}), in the
 * protocol's error shape.
 */
export class ReadPath {
  private readonly errorShape: ErrorShape | undefined;
  /** The prefix followed by `/`: what every npm path starts with. */
  private readonly mount: string;

  constructor(private readonly deps: ReadPathDeps) {
    this.errorShape = deps.protocol.errorBody?.bind(deps.protocol);
    this.mount = `${deps.prefix}/`;
  }

  /** Labels the answer's metrics and access log line with its route and this protocol. */
  private label(res: ServerResponse, route: string): void {
    setRoute(res, route, this.deps.protocol.name);
  }

  /** Whether the request is one of this read path's (anything else is another protocol's, or express's). */
  owns(req: IncomingMessage): boolean {
    const url = req.url;
    if (url === undefined) return false;
    // Every method under an npm prefix: `npm publish` or `npm audit` get the protocol's own answer.
    if (this.deps.protocol.pagePaths === 'registry') return url.startsWith(this.mount);
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (url.startsWith(FILES) || url.startsWith(VIEWS)) return true;
    if (!url.startsWith(SIMPLE)) return false;
    const next = url.charCodeAt(SIMPLE.length);
    return Number.isNaN(next) || next === 47 /* / */ || next === 63; /* ? */
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    let pending: Promise<void> | void;
    try {
      // Answers from the memo are written synchronously (no promise per warm hit); the rest is async.
      pending = this.route(req, res);
    } catch (err) {
      answerError(req, res, err, this.deps.logger, this.errorShape);
      return;
    }
    pending?.catch((err: unknown) => answerError(req, res, err, this.deps.logger, this.errorShape));
  }

  private route(req: IncomingMessage, res: ServerResponse): Promise<void> | void {
    const url = req.url!;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? '' : url.slice(q);
    if (this.deps.protocol.pagePaths === 'registry') return this.registryRoute(req, res, path.slice(this.deps.prefix.length), query);
    if (path.startsWith(VIEWS)) return this.viewRoute(req, res, path.slice(VIEWS.length), query);
    return this.indexRoute(req, res, path, query);
  }

  /** npm's registry paths below the prefix: packuments, tarballs, ping. */
  private registryRoute(req: IncomingMessage, res: ServerResponse, path: string, query: string): Promise<void> | void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      this.label(res, 'unsupported');
      throw new HttpError(405, 'method_not_allowed', 'Orchard is a read-only proxy: publish, audit and the rest of the write API go to the registry itself', {
        Allow: 'GET, HEAD',
      });
    }
    if (path.startsWith(REGISTRY_FILES)) return this.file(req, res, path.slice(REGISTRY_FILES.length));
    if (path === REGISTRY_PING) {
      this.label(res, 'ping');
      return sendJson(req, res, {});
    }
    this.label(res, 'package');
    const raw = path.slice(1);
    const { pages, protocol } = this.deps;
    const request = variantRequest(req, query);
    // A scoped name arrives as `@scope/name` or `@scope%2fname`; anything else with a slash (a
    // version document, `-/…` endpoints) is not served.
    const slash = raw.indexOf('/');
    if (raw === '' || raw.startsWith('-/') || (slash >= 0 && (!raw.startsWith('@') || raw.indexOf('/', slash + 1) >= 0))) throw notFound('not found');
    if (pages.remembered(req, res, raw, request)) return;
    const name = decodeSegment(raw);
    if (!protocol.isValidProjectName(name)) throw badRequest('invalid package name');
    return pages.project(req, res, protocol.normalizeName(name), request);
  }

  /** `/simple/…` and `/files/…`, plain or (with `view`) under `/v/<view>`. */
  private indexRoute(req: IncomingMessage, res: ServerResponse, path: string, query: string, view?: View): Promise<void> | void {
    const base = view ? `${VIEWS}${view.name}` : '';
    if (path.startsWith(FILES)) return this.file(req, res, path.slice(FILES.length), view);
    if (!path.startsWith(SIMPLE) || (path.length > SIMPLE.length && path[SIMPLE.length] !== '/')) throw notFound('not found');
    const { pages } = this.deps;
    if (path === SIMPLE || path === `${SIMPLE}/`) {
      if (!pages.hasRoot) throw notFound('not found');
      this.label(res, view ? 'view_root' : 'simple_root');
      if (path === SIMPLE) return redirect(res, `${base}${SIMPLE}/${query}`);
      return view ? pages.viewRoot(req, res, view, variantRequest(req, query)) : pages.root(req, res, variantRequest(req, query));
    }
    const rest = path.slice(SIMPLE.length + 1);
    const slash = rest.indexOf('/');
    // `/simple/<project>` or `/simple/<project>/`; anything deeper is not a route.
    if (slash >= 0 && slash !== rest.length - 1) throw notFound('not found');
    this.label(res, view ? 'view_project' : 'simple_project');
    const request = variantRequest(req, query);
    if (!view && slash > 0 && pages.remembered(req, res, rest.slice(0, -1), request)) return;
    const raw = decodeSegment(slash < 0 ? rest : rest.slice(0, -1));
    const { protocol } = this.deps;
    if (!protocol.isValidProjectName(raw)) throw badRequest('invalid project name');
    const project = protocol.normalizeName(raw);
    if (slash < 0 || project !== raw) return redirect(res, `${base}${SIMPLE}/${project}/${query}`);
    return view ? pages.viewProject(req, res, view, project, request) : pages.project(req, res, project, request);
  }

  /** `/v/<view>/…`: the view's description, index and files. */
  private viewRoute(req: IncomingMessage, res: ServerResponse, rest: string, query: string): Promise<void> | void {
    const views = this.deps.views;
    this.label(res, 'view');
    if (!views) throw notFound('not found');
    const slash = rest.indexOf('/');
    const name = decodeSegment(slash < 0 ? rest : rest.slice(0, slash));
    const inView = (view: View | undefined): Promise<void> | void => {
      if (!view) throw notFound(`view ${name} not found`);
      if (slash < 0) return redirect(res, `${VIEWS}${view.name}/${query}`);
      const path = rest.slice(slash);
      if (path === '/') return describeView(req, res, view);
      return this.indexRoute(req, res, path, query, view);
    };
    // Once the stored views are loaded the lookup is synchronous (no promise per warm request).
    const known = views.registry.known(name);
    if (known !== 'unknown') return inView(known);
    return views.registry.get(name).then(inView, (err: unknown) => {
      if (err instanceof ViewsUnavailableError) throw new HttpError(503, 'unavailable', err.message, { 'Retry-After': '5' });
      throw err;
    });
  }

  private file(req: IncomingMessage, res: ServerResponse, rest: string, view?: View): Promise<void> | void {
    const segments = rest.split('/');
    if (segments.length !== 3) throw notFound('not found');
    const [project, sha256, filename] = segments.map(decodeSegment) as [string, string, string];
    // PEP 658 metadata files are PyPI's; an npm file name ending so is just a file name.
    const metadata = this.deps.protocol.pagePaths === 'pep503' && filename.endsWith(METADATA);
    this.label(res, `${view ? 'view_' : ''}${metadata ? 'metadata' : 'file'}`);
    const { protocol, files } = this.deps;
    // Only checked paths are ever remembered: a remembered one needs no check again.
    if (!view && files.remembered(req, res, project, sha256, filename)) return;
    if (!protocol.isValidProjectName(project) || protocol.normalizeName(project) !== project) throw badRequest('invalid project name');
    if (!isSha256Hex(sha256)) throw badRequest('invalid file id: expected a lowercase sha256');
    if (!FILENAME.test(filename) || filename.includes('..')) throw badRequest('invalid file name');
    const artifact = metadata ? filename.slice(0, -METADATA.length) : filename;
    const answer = () => (metadata ? files.metadataFile(req, res, project, sha256, artifact) : files.file(req, res, project, sha256, filename));
    if (!view) return answer();
    return this.deps.views!.pages.listsFile(view, project, sha256, artifact).then((listed) => {
      if (!listed) throw notFound(`${artifact} is not in view ${view.name}`);
      // Listed by the view, so by the plain index: the file memo's checked bytes serve it as well.
      if (files.remembered(req, res, project, sha256, filename)) return;
      return answer();
    });
  }
}

/** `GET /v/<view>/`: what the view is (JSON). */
function describeView(req: IncomingMessage, res: ServerResponse, view: View): void {
  sendJson(req, res, viewDescription(view));
}

function sendJson(req: IncomingMessage, res: ServerResponse, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(body.length), 'Cache-Control': 'no-cache' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** One path segment, %-decoded; an undecodable escape is the client's error. */
function decodeSegment(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch (err) {
    if (err instanceof URIError) throw new HttpError(400, 'bad_request', 'malformed request');
    throw err;
  }
}

/** The `format` query parameter (PEP 691) when given once, with the negotiation headers. */
function variantRequest(req: IncomingMessage, query: string): VariantRequest {
  let format: string | undefined;
  if (query.length > 1) {
    const values = new URLSearchParams(query.slice(1)).getAll('format');
    if (values.length === 1) format = values[0];
  }
  return { accept: req.headers.accept, acceptEncoding: req.headers['accept-encoding'], format };
}

function redirect(res: ServerResponse, location: string): void {
  const body = Buffer.from(`Moved Permanently. Redirecting to ${location}`);
  res.statusCode = 301;
  res.setHeader('Location', location);
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', String(body.length));
  res.end(body);
}
