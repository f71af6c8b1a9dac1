import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { NpmRegistry, NpmRequestRecord, NpmVersion } from '../support/npm-registry.js';
import { OrchardProcesses } from '../support/orchard.js';
import { FakeUpstream } from '../support/upstream-server.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const NPM = '/usr/bin/npm';
const PNPM = path.join(ROOT, 'node_modules', '.bin', 'pnpm');
/** Each CLI run is bounded, so a hung install fails the test with its output instead of timing it out. */
export const CLI_TIMEOUT_MS = 180_000;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The command line and both outputs, for an assertion message. */
  report: string;
}

/**
 * The parent environment without anything that configures a package manager (`npm_*` and `pnpm_*`
 * in any case, `NODE_OPTIONS`, `INIT_CWD`): npm passes its whole configuration to child processes
 * as `npm_config_*`, so under `npm test` the client under test would get this machine's registry,
 * cache and `omit-lockfile-registry-resolved` from `~/.npmrc`.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm|pnpm)_/i.test(key) || /^(NODE_OPTIONS|INIT_CWD|PNPM_HOME|COREPACK_.*)$/.test(key)) continue;
    env[key] = value;
  }
  return env;
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, CLI_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const report = `$ ${command} ${args.join(' ')}  (in ${cwd}${timedOut ? `, killed after ${CLI_TIMEOUT_MS} ms` : ''})\n--- stdout\n${stdout}\n--- stderr\n${stderr}`;
      resolve({ code: code ?? -1, stdout, stderr, report });
    });
  });
}

/** Every temporary directory these helpers made, removed by {@link removeTempDirs}. */
const tempDirs: string[] = [];

/** A temporary, empty directory (a project, a cache, a store, a home). */
export async function emptyDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** Removes every directory {@link emptyDir} made so far (for an `afterAll`). */
export async function removeTempDirs(): Promise<void> {
  for (const dir of tempDirs.splice(0)) await rm(dir, { recursive: true, force: true });
}

/** A fresh project directory with a package.json declaring `dependencies`. */
export async function createProject(dependencies: Record<string, string>, prefix = 'orchard-npm-project-'): Promise<string> {
  const dir = await emptyDir(prefix);
  await writeFile(path.join(dir, 'package.json'), `${JSON.stringify({ name: 'orchard-npm-e2e', version: '1.0.0', private: true, dependencies }, null, 2)}\n`);
  return dir;
}

/**
 * Runs the real npm CLI on `registry` with nothing from this machine: its own user and global
 * config files, the given (empty) cache, no audit, fund, update check or lifecycle scripts.
 */
export async function runNpm(args: string[], options: { cwd: string; registry: string; cache: string }): Promise<CliResult> {
  const config = await emptyDir('orchard-npm-config-');
  const userconfig = path.join(config, 'npmrc');
  const globalconfig = path.join(config, 'global-npmrc');
  await writeFile(userconfig, `registry=${options.registry}\naudit=false\nfund=false\nupdate-notifier=false\n`);
  await writeFile(globalconfig, '');
  const env = { ...cleanEnv(), HOME: config };
  const isolation = [
    '--userconfig',
    userconfig,
    '--globalconfig',
    globalconfig,
    '--cache',
    options.cache,
    '--registry',
    options.registry,
    '--no-audit',
    '--no-fund',
    '--no-update-notifier',
    '--ignore-scripts',
  ];
  return run(NPM, [...args, ...isolation], options.cwd, env);
}

/**
 * Runs the repository's pnpm on `registry` in its own home (no `~/.npmrc`, no global
 * `config.yaml`): its user config names the registry and turns the update check off, and packages
 * go to the given (empty) store.
 */
export async function runPnpm(args: string[], options: { cwd: string; registry: string; store: string }): Promise<CliResult> {
  const home = await emptyDir('orchard-pnpm-home-');
  const userconfig = path.join(home, '.npmrc');
  await writeFile(userconfig, `registry=${options.registry}\n`);
  for (const dir of ['config', 'data', 'cache', 'state']) await mkdir(path.join(home, dir));
  const env: NodeJS.ProcessEnv = {
    ...cleanEnv(),
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_DATA_HOME: path.join(home, 'data'),
    XDG_CACHE_HOME: path.join(home, 'cache'),
    XDG_STATE_HOME: path.join(home, 'state'),
    npm_config_userconfig: userconfig,
    PNPM_CONFIG_UPDATE_NOTIFIER: 'false',
  };
  const isolation = [`--store-dir=${options.store}`, `--registry=${options.registry}`, `--config.cache-dir=${path.join(home, 'cache', 'pnpm')}`, '--reporter=append-only'];
  return run(PNPM, [...args, ...isolation], options.cwd, env);
}

/** One entry of npm's lockfile `packages` map. */
export interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  optional?: boolean;
  peer?: boolean;
  link?: boolean;
  os?: string[];
}

/** The `packages` of a lockfile (`package-lock.json` or the hidden `node_modules/.package-lock.json`), without the root project. */
export async function readLockPackages(file: string): Promise<Map<string, LockEntry>> {
  const lock = JSON.parse(await readFile(file, 'utf8')) as { packages: Record<string, LockEntry> };
  return new Map(Object.entries(lock.packages).filter(([location]) => location !== ''));
}

/** `node_modules/a/node_modules/@s/b` → `@s/b`. */
export function packageNameAt(location: string): string {
  return location.slice(location.lastIndexOf('node_modules/') + 'node_modules/'.length);
}

/** What an npm tree holds, as `name@version` (a version nested in two places counts once). */
export function installedIds(packages: Map<string, LockEntry>): Set<string> {
  return new Set([...packages].map(([location, entry]) => `${packageNameAt(location)}@${entry.version}`));
}

/** Orchard serving `registry` as its npm upstream, and the (empty) PyPI upstream it also needs. */
export interface NpmOrchard {
  orchard: OrchardProcesses;
  pypi: FakeUpstream;
  /** Orchard's npm registry, as clients are configured with it (`<gateway>/npm/`). */
  npmUrl: string;
  stop(): Promise<void>;
}

/**
 * Starts the three services with `registry` as the npm upstream. `ORCHARD_PUBLIC_URL` (the base of
 * the tarball URLs Orchard writes into packuments) is the gateway's own address, known once the
 * ports are picked, so the services start after that. Everything started is stopped if one fails.
 */
export async function startNpmOrchard(registry: NpmRegistry, env: Record<string, string> = {}): Promise<NpmOrchard> {
  const pypi = new FakeUpstream();
  await pypi.start();
  const orchard = await OrchardProcesses.start({ upstreams: `pypi=${pypi.url}`, env: { ORCHARD_NPM_UPSTREAMS: `local=${registry.url}`, ...env }, services: [] });
  const stop = async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard.logs)) console.log(`--- ${name}\n${log}`);
    await orchard.stop();
    await pypi.stop();
  };
  orchard.env.ORCHARD_PUBLIC_URL = orchard.gatewayUrl;
  try {
    for (const service of ['gateway', 'fetcher', 'extractor'] as const) await orchard.startService(service);
  } catch (err) {
    await stop();
    throw err;
  }
  return { orchard, pypi, npmUrl: `${orchard.gatewayUrl}/npm/`, stop };
}

/** A CLI run's report followed by the last lines each Orchard service logged. */
export function withLogs(result: CliResult, orchard: OrchardProcesses, lines = 30): string {
  const tails = Object.entries(orchard.logs).map(([name, log]) => `--- ${name} (last ${lines} lines)\n${log.trimEnd().split('\n').slice(-lines).join('\n')}`);
  return [result.report, ...tails].join('\n');
}

/** Every installed `name@version` of an npm project, from its hidden lockfile. */
export async function npmInstalled(project: string): Promise<Set<string>> {
  return installedIds(await readLockPackages(path.join(project, 'node_modules', '.package-lock.json')));
}

/** What a pnpm install wrote: its lockfile's packages (`name@version` → integrity and tarball) and what it installed. */
export interface PnpmTree {
  locked: Map<string, { integrity?: string; tarball?: string }>;
  /** Locked packages pnpm skipped (optional dependencies for another platform). */
  skipped: Set<string>;
  /** Locked and not skipped. */
  installed: Set<string>;
}

export async function readPnpmTree(project: string): Promise<PnpmTree> {
  const lock = parseYaml(await readFile(path.join(project, 'pnpm-lock.yaml'), 'utf8')) as { packages?: Record<string, { resolution: { integrity?: string; tarball?: string } }> };
  const modules = parseYaml(await readFile(path.join(project, 'node_modules', '.modules.yaml'), 'utf8')) as { skipped?: string[] };
  const locked = new Map(Object.entries(lock.packages ?? {}).map(([id, entry]) => [id, entry.resolution]));
  const skipped = new Set(modules.skipped ?? []);
  return { locked, skipped, installed: new Set([...locked.keys()].filter((id) => !skipped.has(id))) };
}

/**
 * The id Orchard records an npm tarball under (the `sha256` column of `artifact`, `release` and
 * `artifact_dependency`, the blob key, the `/npm/-/files/<name>/<id>/` URL): the first 256 bits of
 * its sha512, as libs/protocol/npm/file-digest.ts defines.
 */
export function orchardId(published: NpmVersion): string {
  return published.sha512.slice(0, 64);
}

/** Upstream requests Orchard did not make (an npm or pnpm client reaching the upstream directly). */
export function requestsNotFromOrchard(registry: NpmRegistry): NpmRequestRecord[] {
  return registry.requests.filter((r) => !r.userAgent?.startsWith('orchard') || r.npmCommand !== undefined);
}
