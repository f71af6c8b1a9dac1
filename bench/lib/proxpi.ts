import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../test/support/orchard.js';
import { aptInstall } from './debian-packages.js';

/** The proxpi we compare against: its source is extracted from a local clone, never committed here. */
export const PROXPI_COMMIT = 'edcfe4a161ee7a690c66f87ec691684859badd8f';
const DEFAULT_REPO = '/work/.mirror/EpicWink+proxpi/repo';
const DEBIAN_PACKAGES = ['python3-flask', 'python3-requests', 'python3-lxml', 'gunicorn'];
// Debian's interpreter, not whichever python3 is first on PATH: the Debian packages above are installed for it.
const PYTHON = '/usr/bin/python3';
const OUTPUT_TAIL = 64 * 1024;

function ensureDebianPackages(): void {
  aptInstall(DEBIAN_PACKAGES.filter((p) => !spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' }).stdout.includes('install ok installed')));
}

/** Extracts the pinned commit's src/ to bench/.proxpi/<commit> (once); returns the directory to put on PYTHONPATH. */
async function ensureSource(): Promise<string> {
  const dest = path.join(import.meta.dirname, '..', '.proxpi', PROXPI_COMMIT);
  const src = path.join(dest, 'src');
  if (existsSync(path.join(src, 'proxpi', 'server.py'))) return src;
  const repo = process.env.PROXPI_REPO ?? DEFAULT_REPO;
  if (!existsSync(repo) || spawnSync('git', ['-C', repo, 'cat-file', '-e', `${PROXPI_COMMIT}^{commit}`]).status !== 0) {
    throw new Error(
      `proxpi's source (commit ${PROXPI_COMMIT}) is not in ${repo}: ` +
        `run \`git clone --bare https://github.com/EpicWink/proxpi ${repo}\`, or set PROXPI_REPO to a clone that has that commit`,
    );
  }
  // Extract beside the destination and rename, so an interrupted extraction is never mistaken for a complete one.
  const partial = `${dest}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  const archive = execFileSync('git', ['-C', repo, 'archive', '--format=tar', PROXPI_COMMIT, 'src'], { maxBuffer: 64 * 1024 * 1024 });
  execFileSync('tar', ['-x', '-C', partial], { input: archive });
  await rm(dest, { recursive: true, force: true });
  await rename(partial, dest);
  return src;
}

/**
 * proxpi (https://github.com/EpicWink/proxpi) run as its Docker image runs it: gunicorn, one worker,
 * two threads, --preload. Its cache directory is fresh for every start and removed on stop.
 */
export class ProxpiServer {
  private child?: ChildProcess;
  private port = 0;
  private output = '';
  private cache = '';

  /** `extraEnv` overrides the PROXPI_* settings below (e.g. PROXPI_DOWNLOAD_TIMEOUT). */
  constructor(
    readonly upstreamSimpleUrl: string,
    private readonly extraEnv: Record<string, string> = {},
  ) {}

  /** The simple index to give pip. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/index/`;
  }

  get cacheDir(): string {
    return this.cache;
  }

  async start(): Promise<void> {
    ensureDebianPackages();
    const src = await ensureSource();
    this.port = await freePort();
    this.cache = await mkdtemp(path.join(os.tmpdir(), 'orchard-bench-proxpi-'));
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith('PROXPI_') && key !== 'PYTHONPATH' && key !== 'PYTHONHOME') env[key] = value;
    }
    Object.assign(env, {
      PYTHONPATH: src,
      PROXPI_INDEX_URL: this.upstreamSimpleUrl,
      PROXPI_EXTRA_INDEX_URLS: '',
      PROXPI_CACHE_DIR: this.cache,
      // proxpi's defaults, stated so the figures say what they were measured with.
      PROXPI_INDEX_TTL: '1800',
      PROXPI_CACHE_SIZE: String(5 * 1024 ** 3),
      PROXPI_DOWNLOAD_TIMEOUT: '0.9',
      PROXPI_LOGGING_LEVEL: 'INFO',
      ...this.extraEnv,
    });
    const args = ['-m', 'gunicorn', '--workers', '1', '--threads', '2', '--preload', '--bind', `127.0.0.1:${this.port}`, 'proxpi.server:app'];
    const child = spawn(PYTHON, args, { cwd: src, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.output = '';
    const keep = (d: Buffer) => (this.output = (this.output + d.toString()).slice(-OUTPUT_TAIL));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let exited = false;
    child.once('exit', () => (exited = true));
    await new Promise<void>((resolve, reject) => child.once('spawn', resolve).once('error', reject));

    // /health, not /index/: listing the root index would mark it fresh, and while it is fresh proxpi
    // resolves project pages through that listing instead of fetching them directly, as it does for pip.
    const deadline = Date.now() + 30_000;
    let last = 'no answer';
    while (!exited && Date.now() < deadline) {
      try {
        const res = await fetch(`http://127.0.0.1:${this.port}/health`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.ok) return;
        last = `HTTP ${res.status}`;
      } catch (e) {
        // Usually ECONNREFUSED until gunicorn listens; reported below if it never does.
        last = e instanceof Error ? `${e.message}${e.cause ? ` (${String(e.cause)})` : ''}` : String(e);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await this.stop();
    const why = exited ? 'exited' : `did not answer /health within 30 s (last: ${last})`;
    throw new Error(`proxpi ${why}; command: ${PYTHON} ${args.join(' ')}; its output:\n${this.output}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        console.warn('proxpi did not exit 10 s after SIGTERM; killing it');
        child.kill('SIGKILL');
      }, 10_000);
      await exited;
      clearTimeout(timer);
    }
    this.child = undefined;
    if (this.cache) await rm(this.cache, { recursive: true, force: true });
  }

  /** The last 64 KB of gunicorn's and proxpi's output (logs go to stderr). */
  get log(): string {
    return this.output;
  }
}
