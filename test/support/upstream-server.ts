import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One file the fake upstream publishes. */
export interface UpstreamFile {
  filename: string;
  bytes: Buffer;
  requiresPython?: string;
  yanked?: string | true;
  /** PEP 658 metadata served at `<file>.metadata` and advertised with its sha256. */
  metadata?: Buffer;
  uploadTime?: string;
}

export interface RequestRecord {
  method: string;
  path: string;
  accept?: string;
  authorization?: string;
  userAgent?: string;
}

export type UpstreamMode = 'ok' | 'fail' | 'slow' | 'hang';

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function normalize(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

function escapeHtml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * A controllable PEP 503 / PEP 691 upstream on loopback: it can publish new files, speak HTML or
 * JSON only, fail, slow down, serve tampered bytes, require credentials, and it logs every request
 * so tests can prove which files came through Orchard.
 */
export class FakeUpstream {
  readonly requests: RequestRecord[] = [];
  readonly projects = new Map<string, { name: string; files: UpstreamFile[] }>();
  /** Filenames whose bytes are altered after their hash was published. */
  readonly tampered = new Set<string>();
  format: 'html' | 'json' | 'both' = 'both';
  mode: UpstreamMode = 'ok';
  slowMs = 0;
  /** When set, every request must carry this Authorization header. */
  requiredAuthorization?: string;
  private server?: http.Server;
  private port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}/simple/`;
  }

  publish(project: string, file: UpstreamFile): void {
    const key = normalize(project);
    const entry = this.projects.get(key) ?? { name: project, files: [] };
    entry.files.push(file);
    this.projects.set(key, entry);
  }

  /** Requests for files (not pages), by path. */
  fileRequests(): RequestRecord[] {
    return this.requests.filter((r) => r.path.startsWith('/files/'));
  }

  async start(port = this.port): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Stops listening and drops open connections (the port is kept for a restart). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    this.requests.push({ method: req.method ?? 'GET', path, accept: req.headers.accept, authorization: req.headers.authorization, userAgent: req.headers['user-agent'] });
    if (this.requiredAuthorization && req.headers.authorization !== this.requiredAuthorization) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="upstream"' }).end('unauthorized');
      return;
    }
    if (this.mode === 'hang') return;
    if (this.mode === 'fail') {
      res.writeHead(500).end('upstream is broken');
      return;
    }
    const respond = () => this.route(path, req, res);
    if (this.mode === 'slow') setTimeout(respond, this.slowMs);
    else respond();
  }

  private route(path: string, req: http.IncomingMessage, res: http.ServerResponse): void {
    const page = /^\/simple\/([^/]+)\/$/.exec(path);
    if (page) return this.servePage(normalize(page[1]!), req, res);
    const file = /^\/files\/([^/]+)$/.exec(path);
    if (file) return this.serveFile(file[1]!, res);
    res.writeHead(404).end('not found');
  }

  private servePage(project: string, req: http.IncomingMessage, res: http.ServerResponse): void {
    const entry = this.projects.get(project);
    if (!entry) {
      res.writeHead(404).end('no such project');
      return;
    }
    const wantsJson = this.format === 'json' || (this.format === 'both' && (req.headers.accept ?? '').includes('application/vnd.pypi.simple.v1+json'));
    const body = wantsJson ? this.renderJson(entry) : this.renderHtml(entry);
    const etag = `"${sha256(Buffer.from(body)).slice(0, 16)}"`;
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { etag }).end();
      return;
    }
    res
      .writeHead(200, {
        'content-type': wantsJson ? 'application/vnd.pypi.simple.v1+json' : 'text/html; charset=utf-8',
        etag,
      })
      .end(body);
  }

  private renderHtml(entry: { name: string; files: UpstreamFile[] }): string {
    const links = entry.files.map((f) => {
      const attrs = [`href="../../files/${encodeURIComponent(f.filename)}#sha256=${sha256(f.bytes)}"`];
      if (f.requiresPython) attrs.push(`data-requires-python="${escapeHtml(f.requiresPython)}"`);
      if (f.yanked !== undefined) attrs.push(f.yanked === true ? 'data-yanked=""' : `data-yanked="${escapeHtml(f.yanked)}"`);
      if (f.metadata) attrs.push(`data-dist-info-metadata="sha256=${sha256(f.metadata)}"`, `data-core-metadata="sha256=${sha256(f.metadata)}"`);
      return `<a ${attrs.join(' ')}>${escapeHtml(f.filename)}</a><br/>`;
    });
    return `<!DOCTYPE html><html><head><meta name="pypi:repository-version" content="1.0"><title>Links for ${escapeHtml(entry.name)}</title></head><body><h1>Links for ${escapeHtml(entry.name)}</h1>${links.join('\n')}</body></html>`;
  }

  private renderJson(entry: { name: string; files: UpstreamFile[] }): string {
    return JSON.stringify({
      meta: { 'api-version': '1.1' },
      name: normalize(entry.name),
      files: entry.files.map((f) => ({
        filename: f.filename,
        url: `../../files/${encodeURIComponent(f.filename)}`,
        hashes: { sha256: sha256(f.bytes) },
        ...(f.requiresPython ? { 'requires-python': f.requiresPython } : {}),
        ...(f.yanked !== undefined ? { yanked: f.yanked } : {}),
        ...(f.metadata ? { 'core-metadata': { sha256: sha256(f.metadata) } } : {}),
        size: f.bytes.length,
        ...(f.uploadTime ? { 'upload-time': f.uploadTime } : {}),
      })),
      versions: [],
    });
  }

  private serveFile(name: string, res: http.ServerResponse): void {
    const metadataOf = name.endsWith('.metadata') ? name.slice(0, -'.metadata'.length) : undefined;
    for (const { files } of this.projects.values()) {
      for (const f of files) {
        if (metadataOf === f.filename && f.metadata) {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': f.metadata.length }).end(f.metadata);
          return;
        }
        if (f.filename === name) {
          const bytes = this.tampered.has(name) ? Buffer.concat([f.bytes.subarray(0, -1), Buffer.from([f.bytes.at(-1)! ^ 0xff])]) : f.bytes;
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length }).end(bytes);
          return;
        }
      }
    }
    res.writeHead(404).end('no such file');
  }
}
