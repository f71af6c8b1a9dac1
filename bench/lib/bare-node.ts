import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { childPids } from '../../test/support/processes.js';

/**
 * What a Node.js server manages on this machine without Orchard: bare `node:http` with no
 * framework, no metrics, no logging. It answers `/page` with a file's bytes held in memory and
 * `/file` by streaming another file from disk, so a figure can be set against both nginx and what
 * Node itself manages here. With `processes` > 1 a cluster primary forks that many, as Orchard's
 * gateway does by default.
 */
export class BareNodeServer {
  private child?: ChildProcess;
  private dir?: string;
  constructor(
    readonly port: number,
    private readonly pagePath: string,
    private readonly filePath: string,
    private readonly processes = 1,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const source = `
      const cluster = require('node:cluster');
      const http = require('node:http');
      const fs = require('node:fs');
      if (cluster.isPrimary && ${this.processes} > 1) {
        for (let i = 0; i < ${this.processes}; i++) cluster.fork();
        process.on('SIGTERM', () => { for (const w of Object.values(cluster.workers)) w.kill(); process.exit(0); });
      } else {
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
      }).listen(${this.port}, '127.0.0.1');
      }`;
    // A file, not `node -e`: cluster workers run the primary's script again.
    this.dir = await mkdtemp(path.join(os.tmpdir(), 'orchard-bare-node-'));
    const script = path.join(this.dir, 'server.cjs');
    await writeFile(script, source);
    this.child = spawn(process.execPath, [script], { stdio: 'inherit' });
    // Up when it answers and, with several processes, every worker is there (one answering is not all).
    for (let i = 0; i < 100; i++) {
      const answered = await fetch(`${this.url}/page`)
        .then((r) => r.arrayBuffer())
        .then(
          () => true,
          () => false,
        );
      if (answered && (this.processes === 1 || (await this.pids()).length === this.processes + 1)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('bare node server did not start');
  }

  /** The server's processes (the primary and, with `processes` > 1, its workers), for their CPU time. */
  async pids(): Promise<number[]> {
    const pid = this.child?.pid;
    return pid === undefined ? [] : [pid, ...(await childPids(pid))];
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null) {
      const exited = new Promise((r) => this.child!.once('exit', r));
      this.child.kill('SIGTERM');
      await exited;
    }
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}
