import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import semver from 'semver';
import { create as createTar } from 'tar';

/** The packages installed in the bench's npm tree: their closure in this repository's node_modules is the tree. */
export const NPM_TREE_ROOTS = ['express', 'pino', 'bullmq', 'koa'];

const REPO_MODULES = path.resolve(import.meta.dirname, '..', '..', 'node_modules');
// npm pack's fixed mtime: the same package always packs to the same bytes.
const PACK_MTIME = new Date('1985-10-26T08:15:00Z');
// Every version's publication time in the packuments (a fixed date, so a policy view's cooldown reads the same every run).
const PUBLISHED = '2026-01-01T00:00:00.000Z';

/** A static npm registry on disk, in the layout `NpmStaticRegistry` serves. */
export interface NpmTree {
  /** The directory nginx serves. */
  root: string;
  /** The registry's base URL the tarball URLs point at (no trailing slash). */
  url: string;
  /** The install's dependencies: each root at the version in this repository. */
  dependencies: Record<string, string>;
  /** Distinct name@version in the tree (what one install fetches: as many tarballs). */
  packages: number;
  /** Distinct names (as many packuments). */
  names: number;
  /** Names present in more than one version (nested in node_modules). */
  nestedNames: string[];
  scopedNames: string[];
  tarballBytes: number;
  /** The package given earlier versions (manifests only) to make its packument mid-size. */
  history?: { name: string; versions: number; packumentBytes: number };
}

interface Found {
  dir: string;
  manifest: Record<string, any>;
}

/** The package `name` as `from` requires it: Node's lookup, nearest node_modules first, up to the repository's. */
function resolveFrom(from: string, name: string): string | null {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (dir === path.dirname(REPO_MODULES) || dir === path.dirname(dir)) return null;
  }
}

/**
 * Every name@version reachable from `roots` through dependencies, optional dependencies and peer
 * dependencies, as installed in this repository's node_modules: the packages one `npm install` of
 * `roots` fetches. Optional dependencies not installed here (other platforms' binaries) and optional
 * peers (npm installs none) are dropped from the manifests, so npm resolves the tree from this
 * registry alone and nothing in it goes unused.
 */
async function closure(roots: string[]): Promise<Map<string, Found>> {
  const found = new Map<string, Found>();
  const stack = roots.map((r) => path.join(REPO_MODULES, r));
  while (stack.length > 0) {
    const dir = stack.pop()!;
    const pkg = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as Record<string, any>;
    const key = `${pkg.name}@${pkg.version}`;
    if (found.has(key)) continue;
    const manifest: Record<string, any> = {};
    for (const [field, value] of Object.entries(pkg)) {
      // Install-time bookkeeping from older npm versions, and what a registry never serves.
      if (!field.startsWith('_') && field !== 'devDependencies') manifest[field] = value;
    }
    for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies'] as const) {
      const deps = (pkg[field] ?? {}) as Record<string, string>;
      if (Object.keys(deps).length === 0) continue;
      const kept: Record<string, string> = {};
      for (const [name, range] of Object.entries(deps)) {
        if (field === 'peerDependencies' && pkg.peerDependenciesMeta?.[name]?.optional === true) continue;
        const at = resolveFrom(dir, name);
        if (at) {
          kept[name] = range;
          stack.push(at);
        } else if (field === 'dependencies') {
          throw new Error(`${key} depends on ${name}, which is not installed in ${REPO_MODULES}`);
        }
      }
      manifest[field] = kept;
    }
    if (manifest.peerDependenciesMeta) {
      manifest.peerDependenciesMeta = Object.fromEntries(Object.entries(manifest.peerDependenciesMeta as object).filter(([n]) => n in (manifest.peerDependencies ?? {})));
    }
    found.set(key, { dir, manifest });
  }
  return found;
}

/** Files under `dir`, relative and sorted, without nested node_modules. */
async function packFiles(dir: string, prefix = ''): Promise<string[]> {
  const files: string[] = [];
  for (const entry of (await readdir(path.join(dir, prefix), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') files.push(...(await packFiles(dir, rel)));
    } else if (entry.isFile()) {
      files.push(rel);
    }
  }
  return files;
}

/** A package's tarball as npm publishes one: gzip tar, every entry under `package/`, the (filtered) manifest as its package.json. */
async function pack(found: Found, staging: string): Promise<Buffer> {
  await rm(staging, { recursive: true, force: true });
  await cp(found.dir, staging, { recursive: true, filter: (src) => !path.relative(found.dir, src).split(path.sep).includes('node_modules') });
  await writeFile(path.join(staging, 'package.json'), `${JSON.stringify(found.manifest, null, 2)}\n`);
  const files = await packFiles(staging);
  const chunks: Buffer[] = [];
  const stream = createTar({ cwd: staging, prefix: 'package', gzip: true, portable: true, mtime: PACK_MTIME }, files);
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  await rm(staging, { recursive: true, force: true });
  return Buffer.concat(chunks);
}

/**
 * Writes a static npm registry of the tree under `root`: `<name>/index.json` is the packument
 * (full documents, every version's `dist` with sha512 `integrity`, `shasum` and a `tarball` URL
 * under `url`), `<name>/-/<basename>-<version>.tgz` the tarballs, scoped names as `@scope/name/…`.
 */
export async function buildNpmRegistry(root: string, url: string, roots = NPM_TREE_ROOTS, history?: { name: string; versions: number }): Promise<NpmTree> {
  const found = await closure(roots);
  const byName = new Map<string, Array<Found & { dist: Record<string, string> }>>();
  let tarballBytes = 0;
  for (const f of found.values()) {
    const { name, version } = f.manifest as { name: string; version: string };
    const basename = name.split('/').at(-1)!;
    const tarballPath = `${name}/-/${basename}-${version}.tgz`;
    const bytes = await pack(f, path.join(root, '.staging'));
    tarballBytes += bytes.length;
    await mkdir(path.join(root, name, '-'), { recursive: true });
    await writeFile(path.join(root, tarballPath), bytes);
    const dist = {
      integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}`,
      shasum: createHash('sha1').update(bytes).digest('hex'),
      tarball: `${url}/${tarballPath}`,
    };
    byName.set(name, [...(byName.get(name) ?? []), { ...f, dist }]);
  }
  if (history) byName.get(history.name)!.unshift(...olderVersions(byName.get(history.name)![0]!, history.versions - byName.get(history.name)!.length, url));
  for (const [name, versions] of byName) {
    const sorted = versions.map((v) => v.manifest.version as string).sort(semver.compare);
    const packument = {
      _id: name,
      name,
      'dist-tags': { latest: sorted.at(-1)! },
      versions: Object.fromEntries(versions.map((v) => [v.manifest.version, { ...v.manifest, _id: `${name}@${v.manifest.version}`, dist: v.dist }])),
      time: { created: PUBLISHED, modified: PUBLISHED, ...Object.fromEntries(sorted.map((v) => [v, PUBLISHED])) },
    };
    await writeFile(path.join(root, name, 'index.json'), JSON.stringify(packument));
  }
  const dependencies: Record<string, string> = {};
  for (const r of roots) dependencies[r] = (JSON.parse(await readFile(path.join(REPO_MODULES, r, 'package.json'), 'utf8')) as { version: string }).version;
  return {
    root,
    url,
    dependencies,
    packages: found.size,
    names: byName.size,
    nestedNames: [...new Set([...found.values()].map((f) => f.manifest.name as string).filter((n, i, all) => all.indexOf(n) !== i))],
    scopedNames: [...byName.keys()].filter((n) => n.startsWith('@')),
    tarballBytes,
    ...(history
      ? { history: { name: history.name, versions: byName.get(history.name)!.length, packumentBytes: (await stat(path.join(root, history.name, 'index.json'))).size } }
      : {}),
  };
}

/**
 * `count` earlier versions of a package for its packument alone (`<major - 1>.<i>.0`, each the real
 * manifest under another version): a packument the size of a long-lived package's. They have no
 * tarball (their URLs 404) and a digest of their own name, so nothing resolves or fetches them.
 */
function olderVersions(real: Found & { dist: Record<string, string> }, count: number, url: string): Array<Found & { dist: Record<string, string> }> {
  const { name, version } = real.manifest as { name: string; version: string };
  const major = semver.major(version);
  if (major < 1) throw new Error(`${name}@${version}: earlier versions are numbered <major - 1>.<i>.0`);
  return Array.from({ length: count }, (_, i) => {
    const older = `${major - 1}.${i}.0`;
    const digest = createHash('sha512').update(`${name}@${older}`).digest();
    return {
      dir: real.dir,
      manifest: { ...real.manifest, version: older },
      dist: {
        integrity: `sha512-${digest.toString('base64')}`,
        shasum: createHash('sha1').update(digest).digest('hex'),
        tarball: `${url}/${name}/-/${name.split('/').at(-1)!}-${older}.tgz`,
      },
    };
  });
}
