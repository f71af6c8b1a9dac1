/**
 * The local npm registry the Orchard tests proxy, checked on its own: real npm and pnpm install the
 * whole tree straight from it, so its packuments and tarballs are what clients accept.
 */
import { createHash } from 'node:crypto';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixtureRegistry, NpmRegistry, SYNTHETIC, tarballPath, unsatisfiedRanges, type NpmFixture } from '../support/npm-registry.js';
import { CLI_TIMEOUT_MS, createProject, emptyDir, installedIds, readLockPackages, readPnpmTree, removeTempDirs, runNpm, runPnpm } from './helpers.js';

describe('the npm fixture registry', () => {
  let fixture: NpmFixture;
  let registry: NpmRegistry;

  beforeAll(async () => {
    fixture = await buildFixtureRegistry();
    registry = fixture.registry;
    await registry.start();
  });

  afterAll(async () => {
    await registry?.stop();
    await removeTempDirs();
  });

  it('publishes a closed tree with nested versions, a scoped package, peers and optional dependencies', async () => {
    expect(unsatisfiedRanges(registry)).toEqual([]);
    expect(fixture.fromNodeModules.length).toBeGreaterThanOrEqual(60);
    expect([...registry.packages.get('http-errors')!.keys()].sort()).toEqual(['1.8.1', '2.0.1']);
    expect(registry.packages.has('@koa/router')).toBe(true);

    const res = await fetch(`${registry.url}@orchard-test%2fscoped`, { headers: { accept: 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const packument = (await res.json()) as {
      'dist-tags': Record<string, string>;
      versions: Record<string, { dependencies: Record<string, string>; dist: { tarball: string; integrity: string; shasum: string } }>;
      time: Record<string, string>;
    };
    expect(packument['dist-tags']).toEqual({ latest: '1.0.0' });
    expect(Object.keys(packument.time).sort()).toEqual(['0.9.0', '1.0.0', 'created', 'modified']);
    const dist = packument.versions['1.0.0']!.dist;
    expect(dist.tarball).toBe(`${registry.url.slice(0, -1)}${tarballPath(SYNTHETIC.scoped, '1.0.0')}`);
    const tarball = Buffer.from(await (await fetch(dist.tarball)).arrayBuffer());
    expect(`sha512-${createHash('sha512').update(tarball).digest('base64')}`).toBe(dist.integrity);
    expect(createHash('sha1').update(tarball).digest('hex')).toBe(dist.shasum);
    expect((await fetch(`${registry.url}orchard-no-such-package`)).status).toBe(404);
  });

  it(
    'npm installs the whole tree from it',
    async () => {
      registry.requests.length = 0;
      const project = await createProject(fixture.roots);
      const result = await runNpm(['install', '--prefer-online'], { cwd: project, registry: registry.url, cache: await emptyDir('orchard-npm-cache-') });
      expect(result.code, result.report).toBe(0);

      const installed = await readLockPackages(path.join(project, 'node_modules', '.package-lock.json'));
      const ids = installedIds(installed);
      expect(ids.size).toBeGreaterThanOrEqual(50);
      for (const id of ['http-errors@1.8.1', 'http-errors@2.0.1', '@koa/router@9.4.0', `${SYNTHETIC.scoped}@1.0.0`, 'vary@1.1.2', 'ms@2.1.3']) expect(ids).toContain(id);
      expect(ids).not.toContain(`${SYNTHETIC.native}@1.0.0`);
      expect(ids).not.toContain(`${SYNTHETIC.optionalPeerTarget}@1.0.0`);
      await access(path.join(project, 'node_modules', '.bin', 'orchard-test-peer'));

      const lock = await readLockPackages(path.join(project, 'package-lock.json'));
      for (const [location, entry] of lock) {
        if (location.endsWith(`node_modules/${SYNTHETIC.native}`)) continue;
        expect(entry.resolved, location).toMatch(new RegExp(`^${registry.url}`));
      }
      // npm downloads a version once per place it lands in the tree when its cache is empty.
      expect([...registry.tarballRequestCounts().keys()].sort()).toEqual([...ids].sort());
      expect(registry.requests.filter((r) => !r.userAgent?.startsWith('npm/') || (r.status !== 200 && r.status !== 304))).toEqual([]);
    },
    CLI_TIMEOUT_MS + 10_000,
  );

  it(
    'pnpm installs the whole tree from it, each tarball once',
    async () => {
      registry.requests.length = 0;
      const project = await createProject(fixture.roots, 'orchard-pnpm-project-');
      const result = await runPnpm(['install', '--ignore-scripts'], { cwd: project, registry: registry.url, store: await emptyDir('orchard-pnpm-store-') });
      expect(result.code, result.report).toBe(0);

      const tree = await readPnpmTree(project);
      expect(tree.installed.size).toBeGreaterThanOrEqual(50);
      for (const id of ['http-errors@1.8.1', 'http-errors@2.0.1', '@koa/router@9.4.0', `${SYNTHETIC.scoped}@1.0.0`]) expect(tree.installed).toContain(id);
      expect(tree.skipped).toEqual(new Set([`${SYNTHETIC.native}@1.0.0`]));
      expect(tree.locked.has(`${SYNTHETIC.optionalPeerTarget}@1.0.0`)).toBe(false);
      await access(path.join(project, 'node_modules', '.bin', 'orchard-test-peer'));
      // pnpm downloads each version once.
      expect(Object.fromEntries(registry.tarballRequestCounts())).toEqual(Object.fromEntries([...tree.installed].map((id) => [id, 1])));
      expect(registry.requests.filter((r) => !r.userAgent?.startsWith('pnpm/') || (r.status !== 200 && r.status !== 304))).toEqual([]);
    },
    CLI_TIMEOUT_MS + 10_000,
  );
});
