import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../../test/support/orchard.js';
import { npmEnv } from './npm-client.js';

/** The Verdaccio we compare against: pinned in bench/verdaccio/package.json and its lockfile, never a dependency of Orchard. */
export const VERDACCIO_VERSION = '6.8.0';
const PROJECT = path.join(import.meta.dirname, '..', 'verdaccio');
const BIN = path.join(PROJECT, 'node_modules', 'verdaccio', 'bin', 'verdaccio');
const OUTPUT_TAIL = 64 * 1024;

/**
 * Installs bench/verdaccio's lockfile into bench/verdaccio/node_modules (ignored by git like every
 * node_modules) unless that version is already there: `npm ci` from the npm registry, about 10 s
 * and 60 MB. The lockfile carries the `overrides` entry that pins node-fetch to 2.7.0, without
 * which Verdaccio 6.8.0 does not install on Node 20.
 */
function ensureInstalled(): void {
  const manifest = path.join(PROJECT, 'node_modules', 'verdaccio', 'package.json');
  if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version === VERDACCIO_VERSION) return;
  console.log(`  installing verdaccio ${VERDACCIO_VERSION} into ${path.relative(process.cwd(), PROJECT)}/node_modules (npm ci)…`);
  // Verdaccio's dependencies have no install scripts; npmEnv drops `npm run bench`'s own npm_config_* settings.
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], { cwd: PROJECT, env: npmEnv(), stdio: 'inherit' });
}

/**
 * Verdaccio (https://verdaccio.org) as one process with a fresh storage directory, reading through
 * to `uplinkUrl` for every package: reads need no login, packuments are fresh for `maxAge` (long
 * enough that warm rounds never revalidate), publishing is left at its default and never used.
 * Its storage is removed on stop.
 */
export class VerdaccioServer {
  private child?: ChildProcess;
  private port = 0;
  private dir = '';
  private output = '';

  constructor(
    readonly uplinkUrl: string,
    private readonly maxAge = '1h',
  ) {}

  /** The registry URL to give npm (trailing slash). */
  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  get pid(): number {
    return this.child!.pid!;
  }

  async start(): Promise<void> {
    ensureInstalled();
    this.port = await freePort();
    this.dir = await mkdtemp(path.join(os.tmpdir(), 'orchard-bench-verdaccio-'));
    const access = { access: '$all', publish: '$authenticated', proxy: 'upstream' };
    const config = {
      storage: path.join(this.dir, 'storage'),
      plugins: path.join(this.dir, 'plugins'),
      web: { enable: false },
      auth: { htpasswd: { file: path.join(this.dir, 'htpasswd'), max_users: -1 } },
      uplinks: { upstream: { url: `${this.uplinkUrl}/`, max_age: this.maxAge, timeout: '60s', cache: true } },
      packages: { '@*/*': access, '**': access },
      server: { keepAliveTimeout: 60 },
      log: { type: 'stdout', format: 'pretty', level: 'warn' },
    };
    const configFile = path.join(this.dir, 'config.yaml');
    await writeFile(configFile, stringify(config));
    const args = [BIN, '--config', configFile, '--listen', `127.0.0.1:${this.port}`];
    const child = spawn(process.execPath, args, { cwd: this.dir, env: npmEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.output = '';
    const keep = (d: Buffer) => (this.output = (this.output + d.toString()).slice(-OUTPUT_TAIL));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    await new Promise<void>((resolve, reject) => child.once('spawn', resolve).once('error', reject));
    let last = 'no answer';
    for (const deadline = Date.now() + 30_000; child.exitCode === null && Date.now() < deadline;) {
      try {
        const res = await fetch(`${this.url}-/ping`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.ok) return;
        last = `HTTP ${res.status}`;
      } catch (e) {
        // ECONNREFUSED until it listens; reported below if it never does.
        last = e instanceof Error ? e.message : String(e);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const why = child.exitCode !== null ? `exited with ${child.exitCode}` : `did not answer /-/ping within 30 s (last: ${last})`;
    await this.stop();
    throw new Error(`verdaccio ${why}; command: node ${args.join(' ')}; its output:\n${this.output}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    this.child = undefined;
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }

  /** The last 64 KB of Verdaccio's output (warnings and errors only). */
  get log(): string {
    return this.output;
  }
}

/** For the results: how big the install in bench/verdaccio is. */
export function verdaccioInstallSize(): { packages: number; bytes: number } {
  const lock = JSON.parse(readFileSync(path.join(PROJECT, 'package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
  const du = execFileSync('du', ['-sb', path.join(PROJECT, 'node_modules')], { encoding: 'utf8' });
  return { packages: Object.keys(lock.packages).length - 1, bytes: Number(du.split('\t')[0]) };
}
