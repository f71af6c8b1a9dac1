/**
 * pnpm (the repository's own, a native binary) installs the same tree through Orchard: cold, warm
 * with an empty store, and frozen from the lockfile it wrote. The upstream's request log proves
 * every tarball came through Orchard.
 */
import { access, copyFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixtureRegistry, SYNTHETIC, type NpmFixture, type NpmRegistry } from '../support/npm-registry.js';
import {
  CLI_TIMEOUT_MS,
  createProject,
  emptyDir,
  readPnpmTree,
  removeTempDirs,
  requestsNotFromOrchard,
  runPnpm,
  startNpmOrchard,
  withLogs,
  type NpmOrchard,
  type PnpmTree,
} from './helpers.js';

const CLI_TEST_MS = CLI_TIMEOUT_MS + 30_000;

describe('pnpm installs through Orchard', () => {
  let fixture: NpmFixture;
  let registry: NpmRegistry;
  let npm: NpmOrchard;
  let coldProject = '';
  let cold: PnpmTree;

  beforeAll(async () => {
    fixture = await buildFixtureRegistry();
    registry = fixture.registry;
    await registry.start();
    npm = await startNpmOrchard(registry);
  });

  afterAll(async () => {
    await npm?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  const notFromOrchard = () => requestsNotFromOrchard(registry);

  it(
    'installs the whole tree cold, each tarball fetched from the upstream by Orchard exactly once',
    async () => {
      coldProject = await createProject(fixture.roots, 'orchard-pnpm-project-');
      const result = await runPnpm(['install', '--ignore-scripts'], { cwd: coldProject, registry: npm.npmUrl, store: await emptyDir('orchard-pnpm-store-') });
      expect(result.code, withLogs(result, npm.orchard)).toBe(0);

      cold = await readPnpmTree(coldProject);
      expect(cold.installed.size).toBeGreaterThanOrEqual(50);
      for (const id of ['express@5.3.0', 'koa@2.16.4', '@koa/router@9.4.0', 'http-errors@1.8.1', 'http-errors@2.0.1', `${SYNTHETIC.scoped}@1.0.0`, `${SYNTHETIC.peer}@1.0.0`]) {
        expect(cold.installed).toContain(id);
      }
      expect(cold.skipped).toEqual(new Set([`${SYNTHETIC.native}@1.0.0`]));
      expect(cold.locked.has(`${SYNTHETIC.optionalPeerTarget}@1.0.0`)).toBe(false);
      const virtualStore = await readdir(path.join(coldProject, 'node_modules', '.pnpm'));
      expect(virtualStore).toContain('@koa+router@9.4.0');
      await access(path.join(coldProject, 'node_modules', '.bin', 'orchard-test-peer'));

      // The lockfile keeps the integrity the upstream published, and names Orchard for every tarball.
      for (const [id, resolution] of cold.locked) {
        const at = id.lastIndexOf('@');
        expect(resolution.integrity, id).toBe(registry.version(id.slice(0, at), id.slice(at + 1)).integrity);
        // Orchard's tarball URLs are not where pnpm would guess them, so the lockfile records each.
        expect(resolution.tarball, id).toMatch(new RegExp(`^${npm.orchard.gatewayUrl}/npm/-/files/`));
      }

      expect(Object.fromEntries(registry.tarballRequestCounts())).toEqual(Object.fromEntries([...cold.installed].map((id) => [id, 1])));
      expect(notFromOrchard()).toEqual([]);
    },
    CLI_TEST_MS,
  );

  it(
    'installs again with an empty store without a tarball request upstream',
    async () => {
      const tarballsBefore = registry.tarballRequests().length;
      const project = await createProject(fixture.roots, 'orchard-pnpm-project-');
      const result = await runPnpm(['install', '--ignore-scripts'], { cwd: project, registry: npm.npmUrl, store: await emptyDir('orchard-pnpm-store-') });
      expect(result.code, withLogs(result, npm.orchard)).toBe(0);
      expect((await readPnpmTree(project)).installed).toEqual(cold.installed);
      expect(registry.tarballRequests().length).toBe(tarballsBefore);
      expect(notFromOrchard()).toEqual([]);
    },
    CLI_TEST_MS,
  );

  it(
    'installs frozen from its lockfile with an empty store, the upstream down',
    async () => {
      await registry.stop();
      const project = await emptyDir('orchard-pnpm-frozen-');
      for (const file of ['package.json', 'pnpm-lock.yaml']) await copyFile(path.join(coldProject, file), path.join(project, file));
      const result = await runPnpm(['install', '--frozen-lockfile', '--ignore-scripts'], { cwd: project, registry: npm.npmUrl, store: await emptyDir('orchard-pnpm-store-') });
      expect(result.code, withLogs(result, npm.orchard)).toBe(0);
      expect((await readPnpmTree(project)).installed).toEqual(cold.installed);
    },
    CLI_TEST_MS,
  );
});
