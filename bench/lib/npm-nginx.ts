import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * nginx serving a static npm registry written by `buildNpmRegistry`: `GET /<name>` answers
 * `<name>/index.json` (nginx decodes `%2f`, so npm's `/@scope%2fname` finds `@scope/name/index.json`),
 * `GET /<name>/-/<file>.tgz` the tarball. Tuned as StaticServer is (2 workers, sendfile,
 * keep-alive), with an access log to count what each proxy asked of it.
 */
export class NpmStaticRegistry {
  private child?: ChildProcess;
  constructor(
    readonly root: string,
    readonly port: number,
    private readonly workDir: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Requests logged so far: packument GETs and tarball GETs. */
  async requests(): Promise<{ packuments: number; tarballs: number }> {
    const lines = (await readFile(path.join(this.workDir, 'logs', 'access.log'), 'utf8')).split('\n').filter((l) => l.startsWith('GET '));
    const tarballs = lines.filter((l) => l.split(' ')[1]!.endsWith('.tgz')).length;
    return { packuments: lines.length - tarballs, tarballs };
  }

  async start(): Promise<void> {
    await mkdir(path.join(this.workDir, 'logs'), { recursive: true });
    await mkdir(path.join(this.workDir, 'tmp'), { recursive: true });
    const conf = path.join(this.workDir, 'nginx.conf');
    await writeFile(
      conf,
      `worker_processes 2;
pid ${this.workDir}/nginx.pid;
error_log ${this.workDir}/logs/error.log warn;
events { worker_connections 4096; }
http {
  log_format requests '$request_method $uri $status';
  access_log ${this.workDir}/logs/access.log requests;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  keepalive_timeout 65;
  types { application/json json; application/octet-stream tgz; }
  default_type application/octet-stream;
  client_body_temp_path ${this.workDir}/tmp;
  proxy_temp_path ${this.workDir}/tmp;
  fastcgi_temp_path ${this.workDir}/tmp;
  uwsgi_temp_path ${this.workDir}/tmp;
  scgi_temp_path ${this.workDir}/tmp;
  server {
    listen 127.0.0.1:${this.port};
    root ${this.root};
    location / { try_files $uri $uri/index.json =404; }
  }
}
`,
    );
    this.child = spawn('nginx', ['-c', conf, '-p', this.workDir, '-g', 'daemon off;'], { stdio: 'inherit' });
    for (let i = 0; i < 100; i++) {
      try {
        await (await fetch(`${this.url}/`)).arrayBuffer();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error('nginx (npm registry) did not start');
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
