import { createHash } from 'node:crypto';
import http from 'node:http';
import { RestartableServer } from './restartable-server.js';

/** One file the fake upstream publishes. */
export interface UpstreamFile {
  filename: string;
  bytes: Buffer;
  requiresPython?: string;
  /** PEP 592: a reason, true, or false (JSON `"yanked": false`; nothing in HTML). */
  yanked?: string | boolean;
  /** PEP 658 metadata served at `<file>.metadata` and advertised with its sha256. */
  metadata?: Buffer;
  /**
   * How the metadata file is advertised: `both` (default) HTML attribute names / JSON `core-metadata`,
   * `core` or `dist-info` (only that name, as old indexes do), `true` (both names, no hash), `none`
   * (served but not advertised).
   */
  metadataAdvertised?: 'both' | 'core' | 'dist-info' | 'true' | 'none';
  uploadTime?: string;
  /** `data-gpg-sig` / `gpg-sig`. */
  gpgSig?: boolean;
  /** More hashes besides the sha256 (JSON `hashes`; HTML fragments carry the sha256 only). */
  extraHashes?: Record<string, string>;
  /** Keys no PEP defines yet, added to the file's JSON object. */
  extraJson?: Record<string, unknown>;
  /** Leaves the `size` key out of JSON (for a 1.0 page). */
  omitSize?: boolean;
}

/** Page-level extras of a project (JSON only, except the api-version). */
export interface UpstreamProjectOptions {
  /** PEP 700 `versions` (JSON); default []. */
  versions?: string[];
  /** `meta.api-version` in both formats; default 1.1 (JSON), 1.0 (HTML). */
  apiVersion?: string;
  /** More `meta` keys (JSON), e.g. `_last-serial`. */
  metaExtra?: Record<string, unknown>;
  /** Top-level keys no PEP defines yet (JSON). */
  pageExtra?: Record<string, unknown>;
}

export interface RequestRecord {
  method: string;
  path: string;
  accept?: string;
  authorization?: string;
  userAgent?: string;
  ifNoneMatch?: string;
  ifModifiedSince?: string;
  /** The client's address (which host asked, when services run on several). */
  remoteAddress?: string;
  /** Set once the whole answer was handed to the connection (never, for a body cut off or still being sent). */
  finished?: boolean;
}

export type UpstreamMode = 'ok' | 'fail' | 'slow' | 'hang';

/** How one file's download misbehaves (see {@link FakeUpstream.fileFaults}). */
export type FileFault =
  /** Announces the full Content-Length, sends `atBytes` bytes, then drops the connection. */
  | { kind: 'truncate'; atBytes: number }
  /** Sends `chunkBytes` every `intervalMs` (a slow body). */
  | { kind: 'slow'; chunkBytes: number; intervalMs: number }
  /** Answers with a redirect to `location`. */
  | { kind: 'redirect'; location: string; status?: number };

/** A page served verbatim instead of the rendered one (malformed or generated pages). */
export interface PageOverride {
  status?: number;
  contentType: string;
  body: string | Buffer;
}

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
export class FakeUpstream extends RestartableServer {
  readonly requests: RequestRecord[] = [];
  readonly projects = new Map<string, { name: string; files: UpstreamFile[] }>();
  /** Filenames whose bytes are altered after their hash was published. */
  readonly tampered = new Set<string>();
  format: 'html' | 'json' | 'both' = 'both';
  mode: UpstreamMode = 'ok';
  slowMs = 0;
  /** When set, every request must carry this Authorization header. */
  requiredAuthorization?: string;
  /** Misbehaving downloads, by filename. */
  readonly fileFaults = new Map<string, FileFault>();
  /** Pages served verbatim, by normalised project name (the project need not be published). */
  readonly pageOverrides = new Map<string, PageOverride>();
  /** Page-level extras, by normalised project name. */
  readonly projectOptions = new Map<string, UpstreamProjectOptions>();
  /** Names the root `/simple/` lists besides the published projects. */
  readonly rootExtraNames: string[] = [];
  /** Whether `/simple/` answers at all (404 when false). */
  rootIndexEnabled = true;
  /** Address it listens on (set before {@link start}; e.g. a test network's bridge address). */

  get url(): string {
    return `http://${this.host}:${this.port}/simple/`;
  }

  publish(project: string, file: UpstreamFile): void {
    const key = normalize(project);
    this.lastModified.set(key, new Date());
    const entry = this.projects.get(key) ?? { name: project, files: [] };
    entry.files.push(file);
    this.projects.set(key, entry);
  }

  /** Sets page-level extras of a project (see {@link UpstreamProjectOptions}). */
  setProjectOptions(project: string, options: UpstreamProjectOptions): void {
    this.projectOptions.set(normalize(project), options);
  }

  /** When each project last changed (sent as Last-Modified, honoured in If-Modified-Since). */
  readonly lastModified = new Map<string, Date>();

  /** Requests for one path (e.g. `/simple/x/` or `/files/x.whl`). */
  requestsFor(path: string): RequestRecord[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** Requests for files (not pages), by path. */
  fileRequests(): RequestRecord[] {
    return this.requests.filter((r) => r.path.startsWith('/files/'));
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    const record: RequestRecord = {
      method: req.method ?? 'GET',
      path,
      accept: req.headers.accept,
      authorization: req.headers.authorization,
      userAgent: req.headers['user-agent'],
      ifNoneMatch: req.headers['if-none-match'],
      ifModifiedSince: req.headers['if-modified-since'],
      remoteAddress: req.socket.remoteAddress,
    };
    this.requests.push(record);
    res.once('finish', () => (record.finished = true));
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
    if (path === '/simple/') return this.serveRootIndex(req, res);
    const page = /^\/simple\/([^/]+)\/$/.exec(path);
    if (page) return this.servePage(normalize(page[1]!), req, res);
    const file = /^\/files\/([^/]+)$/.exec(path);
    if (file) return this.serveFile(file[1]!, res);
    res.writeHead(404).end('not found');
  }

  private servePage(project: string, req: http.IncomingMessage, res: http.ServerResponse): void {
    const override = this.pageOverrides.get(project);
    if (override) {
      res.writeHead(override.status ?? 200, { 'content-type': override.contentType }).end(override.body);
      return;
    }
    const entry = this.projects.get(project);
    if (!entry) {
      res.writeHead(404).end('no such project');
      return;
    }
    const wantsJson = this.format === 'json' || (this.format === 'both' && (req.headers.accept ?? '').includes('application/vnd.pypi.simple.v1+json'));
    const body = wantsJson ? this.renderJson(entry) : this.renderHtml(entry);
    const etag = `"${sha256(Buffer.from(body)).slice(0, 16)}"`;
    // Whole seconds, as HTTP dates carry; a publish within the same second still changes the ETag.
    const modified = new Date(Math.floor((this.lastModified.get(project) ?? new Date(0)).getTime() / 1000) * 1000);
    const lastModified = modified.toUTCString();
    const ifNoneMatch = req.headers['if-none-match'];
    const ifModifiedSince = req.headers['if-modified-since'];
    const notModified = ifNoneMatch !== undefined ? ifNoneMatch === etag : ifModifiedSince !== undefined && Date.parse(ifModifiedSince) >= modified.getTime();
    if (notModified) {
      res.writeHead(304, { etag, 'last-modified': lastModified }).end();
      return;
    }
    res
      .writeHead(200, {
        'content-type': wantsJson ? 'application/vnd.pypi.simple.v1+json' : 'text/html; charset=utf-8',
        etag,
        'last-modified': lastModified,
      })
      .end(body);
  }

  private renderHtml(entry: { name: string; files: UpstreamFile[] }): string {
    const options = this.projectOptions.get(normalize(entry.name)) ?? {};
    const links = entry.files.map((f) => {
      const attrs = [`href="../../files/${encodeURIComponent(f.filename)}#sha256=${sha256(f.bytes)}"`];
      if (f.requiresPython) attrs.push(`data-requires-python="${escapeHtml(f.requiresPython)}"`);
      if (f.yanked !== undefined && f.yanked !== false) attrs.push(f.yanked === true ? 'data-yanked=""' : `data-yanked="${escapeHtml(f.yanked)}"`);
      if (f.metadata) {
        const how = f.metadataAdvertised ?? 'both';
        const value = how === 'true' ? 'true' : `sha256=${sha256(f.metadata)}`;
        if (how === 'both' || how === 'dist-info' || how === 'true') attrs.push(`data-dist-info-metadata="${value}"`);
        if (how === 'both' || how === 'core' || how === 'true') attrs.push(`data-core-metadata="${value}"`);
      }
      if (f.gpgSig !== undefined) attrs.push(`data-gpg-sig="${f.gpgSig ? 'true' : 'false'}"`);
      return `<a ${attrs.join(' ')}>${escapeHtml(f.filename)}</a><br/>`;
    });
    const apiVersion = options.apiVersion ?? '1.0';
    return `<!DOCTYPE html><html><head><meta name="pypi:repository-version" content="${apiVersion}"><title>Links for ${escapeHtml(entry.name)}</title></head><body><h1>Links for ${escapeHtml(entry.name)}</h1>${links.join('\n')}</body></html>`;
  }

  private renderJson(entry: { name: string; files: UpstreamFile[] }): string {
    const options = this.projectOptions.get(normalize(entry.name)) ?? {};
    return JSON.stringify({
      meta: { 'api-version': options.apiVersion ?? '1.1', ...options.metaExtra },
      name: normalize(entry.name),
      files: entry.files.map((f) => {
        const how = f.metadataAdvertised ?? 'both';
        const metadata = f.metadata && how !== 'none' ? (how === 'true' ? true : { sha256: sha256(f.metadata) }) : undefined;
        return {
          filename: f.filename,
          url: `../../files/${encodeURIComponent(f.filename)}`,
          hashes: { ...f.extraHashes, sha256: sha256(f.bytes) },
          ...(f.requiresPython ? { 'requires-python': f.requiresPython } : {}),
          ...(f.yanked !== undefined ? { yanked: f.yanked } : {}),
          ...(metadata !== undefined ? { [how === 'dist-info' ? 'dist-info-metadata' : 'core-metadata']: metadata } : {}),
          ...(f.gpgSig !== undefined ? { 'gpg-sig': f.gpgSig } : {}),
          ...(f.omitSize ? {} : { size: f.bytes.length }),
          ...(f.uploadTime ? { 'upload-time': f.uploadTime } : {}),
          ...f.extraJson,
        };
      }),
      versions: options.versions ?? [],
      ...options.pageExtra,
    });
  }

  /** `/simple/`: every published project (and {@link rootExtraNames}), in the negotiated format. */
  private serveRootIndex(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (!this.rootIndexEnabled) {
      res.writeHead(404).end('no root index');
      return;
    }
    const names = [...[...this.projects.values()].map((p) => p.name), ...this.rootExtraNames];
    const wantsJson = this.format === 'json' || (this.format === 'both' && (req.headers.accept ?? '').split(',')[0]!.includes('json'));
    if (wantsJson) {
      res
        .writeHead(200, { 'content-type': 'application/vnd.pypi.simple.v1+json' })
        .end(JSON.stringify({ meta: { 'api-version': '1.0', '_last-serial': 1 }, projects: names.map((name) => ({ name, '_last-serial': 1 })) }));
      return;
    }
    const links = names.map((name) => `<a href="/simple/${normalize(name)}/">${escapeHtml(name)}</a>`).join('\n');
    res
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      .end(`<!DOCTYPE html><html><head><meta name="pypi:repository-version" content="1.0"><title>Simple index</title></head><body>${links}</body></html>`);
  }

  private serveFile(name: string, res: http.ServerResponse): void {
    const metadataOf = name.endsWith('.metadata') ? name.slice(0, -'.metadata'.length) : undefined;
    for (const { files } of this.projects.values()) {
      for (const f of files) {
        if (metadataOf === f.filename && f.metadata) {
          const bytes = this.tampered.has(name) ? Buffer.concat([f.metadata, Buffer.from('\nX-Tampered: yes\n')]) : f.metadata;
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length }).end(bytes);
          return;
        }
        if (f.filename === name) {
          const fault = this.fileFaults.get(name);
          if (fault) return this.serveFaulty(fault, f.bytes, res);
          const bytes = this.tampered.has(name) ? Buffer.concat([f.bytes.subarray(0, -1), Buffer.from([f.bytes.at(-1)! ^ 0xff])]) : f.bytes;
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length }).end(bytes);
          return;
        }
      }
    }
    res.writeHead(404).end('no such file');
  }

  private serveFaulty(fault: FileFault, bytes: Buffer, res: http.ServerResponse): void {
    if (fault.kind === 'redirect') {
      res.writeHead(fault.status ?? 302, { location: fault.location }).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
    if (fault.kind === 'truncate') {
      res.write(bytes.subarray(0, fault.atBytes), () => setTimeout(() => res.socket?.destroy(), 50));
      return;
    }
    let sent = 0;
    const timer = setInterval(() => {
      if (res.destroyed || res.socket?.destroyed) return clearInterval(timer);
      const chunk = bytes.subarray(sent, sent + fault.chunkBytes);
      sent += chunk.length;
      if (sent >= bytes.length) {
        clearInterval(timer);
        res.end(chunk);
      } else {
        res.write(chunk);
      }
    }, fault.intervalMs);
    res.on('close', () => clearInterval(timer));
  }
}
