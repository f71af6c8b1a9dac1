import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** What a StaticServer serves besides files by path: its types and its `location` blocks. */
export interface StaticSite {
  /** nginx `types { … }` body. */
  types: string;
  /** `location` blocks of the server. */
  locations: string;
}

/** The PyPI corpus: pages, `.metadata` files, wheels, and pre-compressed `.gz` pages. */
const PYPI_SITE: StaticSite = {
  types: 'text/html html; application/vnd.pypi.simple.v1+json json; application/octet-stream whl bin;',
  locations: 'location ~ \\.gz$ { add_header Content-Encoding gzip; types { } default_type text/html; }',
};

/** nginx from Debian's packages serving a directory: the static-server limit every figure is compared with. */
export class StaticServer {
  private child?: ChildProcess;
  constructor(
    readonly root: string,
    readonly port: number,
    private readonly workDir: string,
    /** Keep an access log (see `requestCount`): the upstream's own count of what proxies asked of it. */
    private readonly accessLog = false,
    private readonly site: StaticSite = PYPI_SITE,
  ) {}

  /** GET requests logged for paths ending with `suffix` (needs `accessLog`). */
  async requestCount(suffix: string): Promise<number> {
    return (await this.requestedPaths()).filter((p) => p.endsWith(suffix)).length;
  }

  /** The path of every GET logged so far (needs `accessLog`). */
  async requestedPaths(): Promise<string[]> {
    const log = await readFile(path.join(this.workDir, 'logs', 'access.log'), 'utf8');
    return log
      .split('\n')
      .filter((line) => line.startsWith('GET '))
      .map((line) => line.split(' ')[1]!);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    await mkdir(path.join(this.workDir, 'logs'), { recursive: true });
    const conf = path.join(this.workDir, 'nginx.conf');
    // One worker per core, sendfile, keep-alive: nginx tuned as a static server would be.
    await writeFile(
      conf,
      `worker_processes 2;
pid ${this.workDir}/nginx.pid;
error_log ${this.workDir}/logs/error.log warn;
events { worker_connections 4096; }
http {
  ${this.accessLog ? `log_format requests '$request_method $uri $status'; access_log ${this.workDir}/logs/access.log requests;` : 'access_log off;'}
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  keepalive_timeout 65;
  types { ${this.site.types} }
  default_type application/octet-stream;
  client_body_temp_path ${this.workDir}/tmp;
  proxy_temp_path ${this.workDir}/tmp;
  fastcgi_temp_path ${this.workDir}/tmp;
  uwsgi_temp_path ${this.workDir}/tmp;
  scgi_temp_path ${this.workDir}/tmp;
  server {
    listen 127.0.0.1:${this.port};
    root ${this.root};
    index index.html;
    ${this.site.locations}
  }
}
`,
    );
    await mkdir(path.join(this.workDir, 'tmp'), { recursive: true });
    this.child = spawn('nginx', ['-c', conf, '-p', this.workDir, '-g', 'daemon off;'], { stdio: 'inherit' });
    for (let i = 0; i < 100; i++) {
      try {
        await (await fetch(`${this.url}/`)).arrayBuffer();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error('nginx did not start');
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGQUIT');
    await exited;
    this.child = undefined;
  }
}
