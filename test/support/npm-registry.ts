import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import semver from 'semver';
import { create as createTar } from 'tar';
import { RestartableServer } from './restartable-server.js';

/** A package.json as published: the fields npm clients read, and whatever else the author wrote. */
export interface NpmManifest {
  name: string;
  version: string;
  description?: string;
  license?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  bin?: string | Record<string, string>;
  engines?: Record<string, string>;
  os?: string[];
  cpu?: string[];
  [field: string]: unknown;
}

/** One published version: its manifest, its tarball and the hashes the packument announces. */
export interface NpmVersion {
  manifest: NpmManifest;
  tarball: Buffer;
  /** `sha512-<base64>`, as in `dist.integrity`. */
  integrity: string;
  /** Hex sha1, as in `dist.shasum`. */
  shasum: string;
  /** Hex sha512 of the tarball (the digest `integrity` carries). */
  sha512: string;
  /** Hex sha256 of the tarball. */
  sha256: string;
  /** The tarball's file name, `<unscoped name>-<version>.tgz`. */
  filename: string;
  publishedAt: Date;
}

/** The full document `GET /<name>` answers. */
export interface Packument {
  _id: string;
  name: string;
  description?: string;
  license?: string;
  'dist-tags': Record<string, string>;
  versions: Record<string, NpmManifest & { _id: string; dist: { tarball: string; integrity: string; shasum: string } }>;
  time: { created: string; modified: string; [version: string]: string };
}

export interface NpmRequestRecord {
  method: string;
  /** Decoded path (`/@scope/name` however the client escaped the slash). */
  path: string;
  /** The request target as sent. */
  rawUrl: string;
  accept?: string;
  userAgent?: string;
  /** npm's `npm-command` header (install, ci…): present only when an npm client asked. */
  npmCommand?: string;
  ifNoneMatch?: string;
  ifModifiedSince?: string;
  authorization?: string;
  status?: number;
}

/** Every dependency field an installed tree must satisfy, with how each entry depends. */
const DEPENDENCY_FIELDS = ['dependencies', 'optionalDependencies', 'peerDependencies'] as const;

/** Fixed tarball entry times, as `npm pack` writes, so a package always packs to the same bytes. */
const PACK_MTIME = new Date('1985-10-26T08:15:00Z');

/** Default publication times: long ago (pnpm's default `minimumReleaseAge` skips recent versions). */
const EPOCH = Date.UTC(2020, 0, 1);

function sha512Integrity(bytes: Buffer): string {
  return `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
}

/** What the registry serves for a tampered tarball: its last byte flipped. */
export function tamperedBytes(tarball: Buffer): Buffer {
  return Buffer.concat([tarball.subarray(0, -1), Buffer.from([tarball.at(-1)! ^ 0xff])]);
}

/** `@scope/name` → `name`; `name` → `name`. */
export function unscopedName(name: string): string {
  return name.startsWith('@') ? name.slice(name.indexOf('/') + 1) : name;
}

/** The path of a version's tarball under the registry root, as npmjs lays it out. */
export function tarballPath(name: string, version: string): string {
  return `/${name}/-/${unscopedName(name)}-${version}.tgz`;
}

/** Packs a package directory as `npm pack` would lay it out: a gzip tar with everything under `package/`, nested `node_modules` left out. */
export async function packDirectory(dir: string): Promise<Buffer> {
  const entries = (await readdir(dir)).filter((entry) => entry !== 'node_modules').sort();
  const chunks: Buffer[] = [];
  const stream = createTar({ gzip: true, cwd: dir, prefix: 'package', portable: true, mtime: PACK_MTIME }, entries);
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Packs an in-memory package (`package.json` written from the manifest, plus `files`). */
export async function packFiles(manifest: NpmManifest, files: Record<string, string> = {}): Promise<Buffer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'orchard-npm-pack-'));
  try {
    await writeFile(path.join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    for (const [name, content] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await writeFile(path.join(dir, name), content, { mode: 0o755 });
    }
    return await packDirectory(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A local npm registry on loopback serving real packuments and tarballs: `GET /<name>` and
 * `GET /@scope%2fname` (or `/@scope/name`) answer the full packument whatever `Accept` asks,
 * `GET /<name>/-/<file>.tgz` the tarball. It logs every request (so tests can prove which tarballs
 * came through Orchard), can serve a tarball that does not match its published integrity, and can
 * stop and start again on the same port.
 */
export class NpmRegistry extends RestartableServer {
  readonly requests: NpmRequestRecord[] = [];
  /** Published versions, by package name then version. */
  readonly packages = new Map<string, Map<string, NpmVersion>>();
  /** `name@version` whose tarball bytes are altered after their integrity was published. */
  readonly tampered = new Set<string>();
  /** Dist-tags set explicitly (`latest` defaults to the highest release version). */
  readonly distTags = new Map<string, Record<string, string>>();
  /** When set, every request needs `Authorization: Bearer <token>` (a private registry); others get 401. */
  requiredToken?: string;

  /** The registry root, with its trailing slash (as npm's `registry` setting is written). */
  get url(): string {
    return `http://${this.host}:${this.port}/`;
  }

  /** Publishes one version from its manifest and tarball. */
  publishTarball(manifest: NpmManifest, tarball: Buffer, publishedAt?: Date): NpmVersion {
    const versions = this.packages.get(manifest.name) ?? new Map<string, NpmVersion>();
    const published: NpmVersion = {
      manifest,
      tarball,
      integrity: sha512Integrity(tarball),
      shasum: createHash('sha1').update(tarball).digest('hex'),
      sha512: createHash('sha512').update(tarball).digest('hex'),
      sha256: createHash('sha256').update(tarball).digest('hex'),
      filename: `${unscopedName(manifest.name)}-${manifest.version}.tgz`,
      publishedAt: publishedAt ?? new Date(EPOCH + this.versionCount() * 60_000),
    };
    versions.set(manifest.version, published);
    this.packages.set(manifest.name, versions);
    return published;
  }

  /** Publishes an in-memory package (see {@link packFiles}). */
  async publish(manifest: NpmManifest, files: Record<string, string> = {}, publishedAt?: Date): Promise<NpmVersion> {
    return this.publishTarball(manifest, await packFiles(manifest, files), publishedAt);
  }

  /** Publishes a package directory (e.g. one in `node_modules`) as it is. */
  async publishDirectory(dir: string): Promise<NpmVersion> {
    const manifest = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as NpmManifest;
    return this.publishTarball(manifest, await packDirectory(dir));
  }

  version(name: string, version: string): NpmVersion {
    const found = this.packages.get(name)?.get(version);
    if (!found) throw new Error(`${name}@${version} is not published`);
    return found;
  }

  /** Every published version, as `name@version` → version. */
  allVersions(): Map<string, NpmVersion> {
    const all = new Map<string, NpmVersion>();
    for (const [name, versions] of this.packages) for (const [version, published] of versions) all.set(`${name}@${version}`, published);
    return all;
  }

  versionCount(): number {
    let n = 0;
    for (const versions of this.packages.values()) n += versions.size;
    return n;
  }

  /** Requests for tarballs. */
  tarballRequests(): NpmRequestRecord[] {
    return this.requests.filter((r) => r.path.includes('/-/') && r.path.endsWith('.tgz'));
  }

  /** Tarball requests, counted by `name@version`. */
  tarballRequestCounts(): Map<string, number> {
    const byPath = new Map<string, string>();
    for (const [id, published] of this.allVersions()) byPath.set(tarballPath(published.manifest.name, published.manifest.version), id);
    const counts = new Map<string, number>();
    for (const request of this.tarballRequests()) {
      const id = byPath.get(request.path) ?? request.path;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return counts;
  }

  /** Requests for packuments (anything not a tarball). */
  packumentRequests(): NpmRequestRecord[] {
    return this.requests.filter((r) => !(r.path.includes('/-/') && r.path.endsWith('.tgz')));
  }

  /** The packument of one package, with tarball URLs under the registry's current address. */
  packument(name: string): Packument | undefined {
    const versions = this.packages.get(name);
    if (!versions) return undefined;
    const sorted = [...versions.values()].sort((a, b) => semver.compare(a.manifest.version, b.manifest.version));
    const releases = sorted.filter((v) => semver.prerelease(v.manifest.version) === null);
    const latest = (releases.at(-1) ?? sorted.at(-1))!.manifest.version;
    const times = sorted.map((v) => v.publishedAt.getTime());
    const time: Packument['time'] = {
      created: new Date(Math.min(...times)).toISOString(),
      modified: new Date(Math.max(...times)).toISOString(),
    };
    for (const v of sorted) time[v.manifest.version] = v.publishedAt.toISOString();
    const newest = sorted.reduce((a, b) => (a.publishedAt > b.publishedAt ? a : b));
    return {
      _id: name,
      name,
      description: newest.manifest.description,
      'dist-tags': { latest, ...this.distTags.get(name) },
      versions: Object.fromEntries(
        sorted.map((v) => [
          v.manifest.version,
          {
            ...(Object.fromEntries(Object.entries(v.manifest).filter(([key]) => !key.startsWith('_'))) as NpmManifest),
            _id: `${name}@${v.manifest.version}`,
            dist: { tarball: `${this.url.slice(0, -1)}${tarballPath(name, v.manifest.version)}`, integrity: v.integrity, shasum: v.shasum },
          },
        ]),
      ),
      time,
      license: newest.manifest.license,
    };
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const rawUrl = req.url ?? '/';
    const target = decodeURIComponent(rawUrl.split('?')[0]!);
    const record: NpmRequestRecord = {
      method: req.method ?? 'GET',
      path: target,
      rawUrl,
      accept: req.headers.accept,
      userAgent: req.headers['user-agent'],
      npmCommand: req.headers['npm-command'] as string | undefined,
      ifNoneMatch: req.headers['if-none-match'],
      ifModifiedSince: req.headers['if-modified-since'],
      authorization: req.headers.authorization,
    };
    this.requests.push(record);
    res.once('finish', () => (record.status = res.statusCode));
    if (this.requiredToken !== undefined && req.headers.authorization !== `Bearer ${this.requiredToken}`) {
      return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"authentication required"}');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405).end();
    const tarball = /^\/((?:@[^/]+\/)?[^/@]+)\/-\/([^/]+\.tgz)$/.exec(target);
    if (tarball) return this.serveTarball(tarball[1]!, tarball[2]!, res);
    const packument = /^\/((?:@[^/]+\/)?[^/@]+)$/.exec(target);
    if (packument) return this.servePackument(packument[1]!, req, res);
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Not found"}');
  }

  private servePackument(name: string, req: http.IncomingMessage, res: http.ServerResponse): void {
    const packument = this.packument(name);
    if (!packument) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Not found"}');
    const body = JSON.stringify(packument);
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
    const lastModified = new Date(packument.time.modified).toUTCString();
    if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { etag, 'last-modified': lastModified }).end();
    res.writeHead(200, { 'content-type': 'application/json', etag, 'last-modified': lastModified }).end(body);
  }

  private serveTarball(name: string, filename: string, res: http.ServerResponse): void {
    const published = [...(this.packages.get(name)?.values() ?? [])].find((v) => v.filename === filename);
    if (!published) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Not found"}');
    const id = `${name}@${published.manifest.version}`;
    const bytes = this.tampered.has(id) ? tamperedBytes(published.tarball) : published.tarball;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length }).end(bytes);
  }
}

/**
 * Every dependency range of every published version that no published version satisfies, as
 * `name@version dependencies foo@^1 (published: 2.0.0)`; a range that is not semver counts too.
 */
export function unsatisfiedRanges(registry: NpmRegistry): string[] {
  const problems: string[] = [];
  for (const [id, { manifest }] of registry.allVersions()) {
    for (const field of DEPENDENCY_FIELDS) {
      for (const [dep, range] of Object.entries(manifest[field] ?? {})) {
        const versions = [...(registry.packages.get(dep)?.keys() ?? [])];
        if (semver.validRange(range) === null || semver.maxSatisfying(versions, range) === null) {
          problems.push(`${id} ${field} ${dep}@${range} (published: ${versions.join(', ') || 'none'})`);
        }
      }
    }
  }
  return problems;
}

/**
 * The package directories a set of roots needs in a `node_modules` tree, resolved as Node does
 * (nearest `node_modules` first, so nested versions are found), one per `name@version`.
 */
export async function dependencyClosure(nodeModules: string, roots: string[]): Promise<Map<string, string>> {
  const top = path.dirname(nodeModules);
  const found = new Map<string, string>();
  const visited = new Set<string>();
  const resolve = (from: string, name: string): string => {
    for (let dir = from; ;) {
      const candidate = path.join(dir, 'node_modules', name);
      if (existsSync(path.join(candidate, 'package.json'))) return candidate;
      if (dir === top || dir === path.dirname(dir)) throw new Error(`${name} (needed by ${from}) is not installed in ${nodeModules}`);
      dir = path.dirname(dir);
      if (path.basename(dir) === 'node_modules') dir = path.dirname(dir);
      if (path.basename(dir).startsWith('@')) dir = path.dirname(path.dirname(dir));
    }
  };
  const visit = async (dir: string): Promise<void> => {
    if (visited.has(dir)) return;
    visited.add(dir);
    const manifest = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as NpmManifest;
    const id = `${manifest.name}@${manifest.version}`;
    if (!found.has(id)) found.set(id, dir);
    for (const field of DEPENDENCY_FIELDS) {
      for (const dep of Object.keys(manifest[field] ?? {})) {
        const optionalPeer = field === 'peerDependencies' && manifest.peerDependenciesMeta?.[dep]?.optional;
        let depDir: string;
        try {
          depDir = resolve(dir, dep);
        } catch (err) {
          if (field === 'optionalDependencies' || optionalPeer) continue;
          throw err;
        }
        await visit(depDir);
      }
    }
  };
  for (const root of roots) await visit(path.join(nodeModules, root));
  return found;
}

/** What {@link buildFixtureRegistry} published, for tests to name in their assertions. */
export interface NpmFixture {
  registry: NpmRegistry;
  /** The dependencies a project installing the whole tree declares (name → range). */
  roots: Record<string, string>;
  /** `name@version` taken from `node_modules`. */
  fromNodeModules: string[];
  /** How long packing took, in ms. */
  buildMs: number;
}

/** The tree's roots in this repository's `node_modules`: express 5, and koa 2 with @koa/router for nested versions and a real scoped package. */
export const TREE_ROOTS = ['express', 'koa', '@koa/router'];

/** Packages written for the fixture, each standing for a case real trees have. */
export const SYNTHETIC = {
  /** A scoped package depending on an older major of something express also uses. */
  scoped: '@orchard-test/scoped',
  /** A required peer (`ms`), an optional peer nobody installs, and a bin. */
  peer: 'orchard-test-peer',
  /** Published, satisfies the optional peer, depended on by nothing: never installed. */
  optionalPeerTarget: 'orchard-test-unused-peer',
  /** `optionalDependencies`: one installable, one for an OS no machine has (skipped, as esbuild's). */
  optional: 'orchard-test-optional',
  /** `os: ["orchard-os"]`: never installed. */
  native: 'orchard-test-native',
} as const;

/**
 * Builds a registry (not started) from the transitive closure of {@link TREE_ROOTS} in this
 * repository's `node_modules` (every `name@version` packed from its directory, nested versions
 * included), plus the {@link SYNTHETIC} packages; fails when a dependency range is unsatisfiable.
 */
export async function buildFixtureRegistry(nodeModules = path.resolve(import.meta.dirname, '..', '..', 'node_modules')): Promise<NpmFixture> {
  const started = Date.now();
  const registry = new NpmRegistry();
  const closure = await dependencyClosure(nodeModules, TREE_ROOTS);
  await Promise.all([...closure.values()].map((dir) => registry.publishDirectory(dir)));
  const index = "'use strict';\nmodule.exports = require('./package.json').name;\n";
  await registry.publish(
    { name: SYNTHETIC.scoped, version: '0.9.0', description: 'An older scoped version', license: 'MIT', main: 'index.js', dependencies: { ms: '^2.1.0' } },
    { 'index.js': index },
  );
  await registry.publish(
    {
      name: SYNTHETIC.scoped,
      version: '1.0.0',
      description: 'A scoped package for Orchard tests',
      license: 'MIT',
      main: 'index.js',
      engines: { node: '>=18' },
      dependencies: { debug: '^4.3.0', 'http-errors': '~1.8.0' },
    },
    { 'index.js': index },
  );
  await registry.publish(
    {
      name: SYNTHETIC.peer,
      version: '1.0.0',
      description: 'Peers, required and optional, and a bin',
      license: 'ISC',
      main: 'index.js',
      bin: { 'orchard-test-peer': 'bin/cli.js' },
      peerDependencies: { ms: '^2.1.0', [SYNTHETIC.optionalPeerTarget]: '^1.0.0' },
      peerDependenciesMeta: { [SYNTHETIC.optionalPeerTarget]: { optional: true } },
    },
    { 'index.js': index, 'bin/cli.js': "#!/usr/bin/env node\nconsole.log('orchard-test-peer ok');\n" },
  );
  await registry.publish({ name: SYNTHETIC.optionalPeerTarget, version: '1.0.0', description: 'Never installed', license: 'MIT' }, { 'index.js': index });
  await registry.publish(
    { name: SYNTHETIC.native, version: '1.0.0', description: 'For an OS that does not exist', license: 'MIT', os: ['orchard-os'], cpu: ['x64', 'arm64'] },
    { 'index.js': index },
  );
  await registry.publish(
    {
      name: SYNTHETIC.optional,
      version: '1.0.0',
      description: 'Optional dependencies',
      license: 'Apache-2.0',
      main: 'index.js',
      dependencies: { 'escape-html': '^1.0.3' },
      optionalDependencies: { [SYNTHETIC.native]: '1.0.0', vary: '^1.1.0' },
    },
    { 'index.js': index },
  );
  const problems = unsatisfiedRanges(registry);
  if (problems.length > 0) throw new Error(`the npm fixture is not closed: no published version satisfies\n  ${problems.join('\n  ')}`);
  const roots: Record<string, string> = {};
  for (const name of [...TREE_ROOTS, SYNTHETIC.scoped, SYNTHETIC.peer, SYNTHETIC.optional]) {
    const latest = [...registry.packages.get(name)!.keys()].sort(semver.rcompare)[0]!;
    roots[name] = `^${latest}`;
  }
  return { registry, roots, fromNodeModules: [...closure.keys()].sort(), buildMs: Date.now() - started };
}
