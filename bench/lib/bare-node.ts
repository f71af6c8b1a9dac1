import { spawn, type ChildProcess } from 'node:child_process';

/**
 * The ceiling for any Node.js server on this machine: one bare `node:http` process with no
 * framework, no metrics, no logging. It answers `/page` with a file's bytes held in memory and
 * `/file` by streaming another file from disk, so a figure can be set against both nginx and what
 * Node itself manages here.
 */
export class BareNodeServer {
  private child?: ChildProcess;
  constructor(
    readonly port: number,
    private readonly pagePath: string,
    private readonly filePath: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const source = `
      const http = require('node:http');
      const fs = require('node:fs');
      const page = fs.readFileSync(${JSON.stringify(this.pagePath)});
      const file = ${JSON.stringify(this.filePath)};
      const size = fs.statSync(file).size;
      http.createServer((req, res) => {
        if (req.url === '/page') {
          res.writeHead(200, { 'content-type': 'text/html', 'content-length': page.length });
          res.end(page);
        } else {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
          fs.createReadStream(file, { highWaterMark: 512 * 1024 }).pipe(res);
        }
      }).listen(${this.port}, '127.0.0.1');`;
    this.child = spawn(process.execPath, ['-e', source], { stdio: 'inherit' });
    for (let i = 0; i < 100; i++) {
      try {
        await fetch(`${this.url}/page`).then((r) => r.arrayBuffer());
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error('bare node server did not start');
  }

  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child!.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}
