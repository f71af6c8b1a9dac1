import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * This process's environment without npm's settings: `npm run bench` passes its own configuration
 * to its children as npm_config_* variables (and npm_package_*, npm_lifecycle_*), which would
 * otherwise steer the npm the bench starts.
 */
export function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!/^npm_/i.test(key)) env[key] = value;
  return env;
}

/** The npm that installs (the one on PATH). */
export function npmVersion(): string {
  return execFileSync('npm', ['--version'], { env: npmEnv(), encoding: 'utf8' }).trim();
}

export interface NpmInstallResult {
  seconds: number;
  /** Entries in the installed tree (node_modules/.package-lock.json). */
  packages: number;
  /** Bytes on disk under node_modules. */
  bytes: number;
  /** npm's output at `--loglevel=http` (one line per request with its time), when asked for. */
  httpLog?: string;
}

/**
 * A real `npm install` of `dependencies` from `registryUrl` into a fresh project with an empty npm
 * cache and no user or global configuration (isolated npmrc files, no npm_* variables); returns
 * its time. Fails unless every tarball came from the registry's host: a proxy whose
 * packuments still pointed at the upstream's tarballs would otherwise be timed on nginx's work.
 */
export async function npmInstall(registryUrl: string, dependencies: Record<string, string>, options: { logHttp?: boolean } = {}): Promise<NpmInstallResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'orchard-bench-npm-'));
  const project = path.join(dir, 'project');
  await mkdir(project);
  await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'bench-tree', version: '1.0.0', private: true, dependencies }));
  await writeFile(path.join(dir, 'npmrc'), '');
  await writeFile(path.join(dir, 'global-npmrc'), '');
  const args = [
    'install',
    '--registry',
    registryUrl,
    '--cache',
    path.join(dir, 'cache'),
    '--userconfig',
    path.join(dir, 'npmrc'),
    '--globalconfig',
    path.join(dir, 'global-npmrc'),
    '--prefer-online',
    '--no-audit',
    '--no-fund',
    '--ignore-scripts',
    '--no-update-notifier',
    options.logHttp ? '--loglevel=http' : '--loglevel=error',
  ];
  try {
    const started = performance.now();
    const run = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const child = spawn('npm', args, { cwd: project, env: npmEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, output });
      });
    });
    const seconds = (performance.now() - started) / 1000;
    if (run.code !== 0) throw new Error(`npm install from ${registryUrl} failed (exit ${run.code}):\n${run.output.slice(-4000)}`);
    const lock = JSON.parse(await readFile(path.join(project, 'node_modules', '.package-lock.json'), 'utf8')) as { packages: Record<string, { resolved?: string }> };
    const origin = new URL(registryUrl).origin;
    const elsewhere = Object.entries(lock.packages).filter(([, p]) => !p.resolved || new URL(p.resolved).origin !== origin);
    if (elsewhere.length > 0) {
      const [where, p] = elsewhere[0]!;
      throw new Error(`npm install from ${registryUrl}: ${elsewhere.length} packages resolved elsewhere, e.g. ${where} from ${p.resolved}`);
    }
    const du = execFileSync('du', ['-sb', path.join(project, 'node_modules')], { encoding: 'utf8' });
    return { seconds, packages: Object.keys(lock.packages).length, bytes: Number(du.split('\t')[0]), ...(options.logHttp ? { httpLog: run.output } : {}) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
