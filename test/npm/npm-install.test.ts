/**
 * The real npm CLI installs a real dependency tree (express 5, koa 2, @koa/router and a few
 * packages written for the cases real trees have) through Orchard: cold, warm, from a lockfile, and
 * with the upstream gone. The upstream's own request log proves every tarball came through Orchard.
 */
import { createHash } from 'node:crypto';
import { access, copyFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBlobStore, type BlobStore } from '../../libs/storage/index.js';
import { buildFixtureRegistry, SYNTHETIC, type NpmFixture, type NpmRegistry } from '../support/npm-registry.js';
import { waitFor } from '../support/wait.js';
import {
  CLI_TIMEOUT_MS,
  createProject,
  emptyDir,
  npmInstalled,
  orchardId,
  packageNameAt,
  readLockPackages,
  removeTempDirs,
  requestsNotFromOrchard,
  runNpm,
  startNpmOrchard,
  withLogs,
  type NpmOrchard,
} from './helpers.js';

const CLI_TEST_MS = CLI_TIMEOUT_MS + 30_000;

/** Versions the tree must hold: nested older majors, a real scoped package, the synthetic cases. */
const EXPECTED = [
  'express@5.3.0',
  'koa@2.16.4',
  '@koa/router@9.4.0',
  'http-errors@1.8.1',
  'http-errors@2.0.1',
  'depd@1.1.2',
  'depd@2.0.0',
  `${SYNTHETIC.scoped}@1.0.0`,
  `${SYNTHETIC.peer}@1.0.0`,
  `${SYNTHETIC.optional}@1.0.0`,
  'ms@2.1.3',
  'vary@1.1.2',
];
/** Published, and never installed: the optional peer nobody provides, the optional dependency for another OS. */
const NEVER_INSTALLED = [`${SYNTHETIC.optionalPeerTarget}@1.0.0`, `${SYNTHETIC.native}@1.0.0`];

/** One recorded dependency, as the tests compare them. */
interface Dependency {
  name: string;
  specifier: string;
  kind: string;
}

const byName = (a: Dependency, b: Dependency) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('npm installs through Orchard', () => {
  let fixture: NpmFixture;
  let registry: NpmRegistry;
  let npm: NpmOrchard;
  let db: pg.Client;
  let store: BlobStore;
  /** The first install's project (its lockfile is reused) and what it installed. */
  let coldProject = '';
  let coldInstalled = new Set<string>();

  beforeAll(async () => {
    fixture = await buildFixtureRegistry();
    registry = fixture.registry;
    await registry.start();
    npm = await startNpmOrchard(registry);
    store = createBlobStore({ kind: 'fs', root: npm.orchard.dataDir });
    db = new pg.Client({ connectionString: npm.orchard.database.url });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await store?.close();
    await npm?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  const notFromOrchard = () => requestsNotFromOrchard(registry);

  it(
    'installs the whole tree cold, each tarball fetched from the upstream by Orchard exactly once',
    async () => {
      coldProject = await createProject(fixture.roots);
      const result = await runNpm(['install', '--prefer-online'], { cwd: coldProject, registry: npm.npmUrl, cache: await emptyDir('orchard-npm-cache-') });
      expect(result.code, withLogs(result, npm.orchard)).toBe(0);

      coldInstalled = await npmInstalled(coldProject);
      expect(coldInstalled.size).toBeGreaterThanOrEqual(50);
      for (const id of EXPECTED) expect(coldInstalled).toContain(id);
      for (const id of NEVER_INSTALLED) expect(coldInstalled).not.toContain(id);
      await access(path.join(coldProject, 'node_modules', '.bin', 'orchard-test-peer'));

      // The lockfile names Orchard for every tarball, with the integrity the upstream published.
      const lock = await readLockPackages(path.join(coldProject, 'package-lock.json'));
      for (const [location, entry] of lock) {
        const name = packageNameAt(location);
        const published = registry.version(name, entry.version!);
        expect(entry.integrity, location).toBe(published.integrity);
        expect(decodeURIComponent(entry.resolved ?? ''), location).toMatch(
          new RegExp(`^${escapeRegExp(npm.orchard.gatewayUrl)}/npm/-/files/${escapeRegExp(name)}/${orchardId(published)}/${escapeRegExp(published.filename)}$`),
        );
      }

      // npm asked Orchard for a version nested in two places twice; the upstream saw each once.
      expect(Object.fromEntries(registry.tarballRequestCounts())).toEqual(Object.fromEntries([...coldInstalled].map((id) => [id, 1])));
      expect(notFromOrchard()).toEqual([]);
    },
    CLI_TEST_MS,
  );

  it('stores every installed tarball byte for byte, recorded as an npm artifact', async () => {
    const rows = await waitFor('an artifact row for every installed tarball', async () => {
      const { rows } = await db.query<{ project: string; filename: string; sha256: string; size: string; storage_key: string }>(
        `SELECT project, filename, sha256, size::text, storage_key FROM artifact WHERE protocol = 'npm'`,
      );
      return rows.length >= coldInstalled.size ? rows : undefined;
    });
    for (const id of coldInstalled) {
      const at = id.lastIndexOf('@');
      const published = registry.version(id.slice(0, at), id.slice(at + 1));
      const row = rows.find((r) => r.sha256 === orchardId(published));
      expect(row, id).toMatchObject({ project: published.manifest.name, filename: published.filename, size: String(published.tarball.length) });
      const blob = await store.get(row!.storage_key);
      const hash = createHash('sha512');
      for await (const chunk of blob!.body) hash.update(chunk as Buffer);
      expect(hash.digest('hex'), id).toBe(published.sha512);
    }
  });

  describe('records the dependencies each installed version declares, by kind', () => {
    const CASES = [
      {
        name: SYNTHETIC.scoped,
        version: '1.0.0',
        dependencies: [
          { name: 'debug', specifier: '^4.3.0', kind: 'dependency' },
          { name: 'http-errors', specifier: '~1.8.0', kind: 'dependency' },
        ],
      },
      {
        name: SYNTHETIC.peer,
        version: '1.0.0',
        dependencies: [
          { name: 'ms', specifier: '^2.1.0', kind: 'peer' },
          { name: SYNTHETIC.optionalPeerTarget, specifier: '^1.0.0', kind: 'peer-optional' },
        ],
      },
      {
        name: SYNTHETIC.optional,
        version: '1.0.0',
        dependencies: [
          { name: 'escape-html', specifier: '^1.0.3', kind: 'dependency' },
          { name: SYNTHETIC.native, specifier: '1.0.0', kind: 'optional' },
          { name: 'vary', specifier: '^1.1.0', kind: 'optional' },
        ],
      },
    ];

    /** express as published: every runtime dependency, none other. */
    const express = () => ({
      name: 'express',
      version: '5.3.0',
      dependencies: Object.entries(registry.version('express', '5.3.0').manifest.dependencies!)
        .map(([name, specifier]) => ({ name, specifier, kind: 'dependency' }))
        .sort(byName),
    });

    it('in PostgreSQL (release, artifact_dependency)', async () => {
      for (const { name, version, dependencies } of [...CASES, express()]) {
        const id = orchardId(registry.version(name, version));
        await waitFor(`extraction of ${name}@${version}`, async () => {
          const { rows } = await db.query(`SELECT metadata_status FROM release WHERE artifact_sha256 = $1`, [id]);
          return rows[0]?.metadata_status === 'ok' ? true : undefined;
        });
        const { rows: release } = await db.query('SELECT protocol, project, version FROM release WHERE artifact_sha256 = $1', [id]);
        expect(release).toEqual([{ protocol: 'npm', project: name, version }]);
        const { rows } = await db.query<Dependency>('SELECT name, specifier, kind FROM artifact_dependency WHERE artifact_sha256 = $1', [id]);
        rows.sort(byName);
        expect(rows, `${name}@${version}`).toEqual(dependencies);
      }
    });

    it('in the JSON API (/api/v1/npm/projects/<name>/versions/<version>/dependencies)', async () => {
      for (const { name, version, dependencies } of [...CASES, express()]) {
        const url = `${npm.orchard.gatewayUrl}/api/v1/npm/projects/${encodeURIComponent(name)}/versions/${version}/dependencies`;
        // A release answers once its tarball is extracted (404 before: nothing recorded yet).
        const answer = await waitFor(`${url} with every artifact extracted`, async () => {
          const res = await fetch(url);
          const body = (await res.text()) || '(empty)';
          if (res.status === 404) return undefined;
          expect(res.status, body).toBe(200);
          const parsed = JSON.parse(body) as { dependencies: Dependency[]; artifacts: Array<{ metadataStatus: string }> };
          return parsed.artifacts.length > 0 && parsed.artifacts.every((a) => a.metadataStatus === 'ok') ? parsed : undefined;
        });
        const got = answer.dependencies.map(({ name, specifier, kind }) => ({ name, specifier, kind })).sort(byName);
        expect(got, `${name}@${version}`).toEqual(dependencies);
      }
    });
  });

  it(
    'installs again warm (new project, empty npm cache) without a tarball request upstream',
    async () => {
      const tarballsBefore = registry.tarballRequests().length;
      const project = await createProject(fixture.roots);
      const result = await runNpm(['install'], { cwd: project, registry: npm.npmUrl, cache: await emptyDir('orchard-npm-cache-') });
      expect(result.code, withLogs(result, npm.orchard)).toBe(0);
      expect(await npmInstalled(project)).toEqual(coldInstalled);
      expect(registry.tarballRequests().length).toBe(tarballsBefore);
      expect(notFromOrchard()).toEqual([]);
    },
    CLI_TEST_MS,
  );

  it(
    'npm ci installs from the lockfile naming Orchard, with an empty cache',
    async () => {
      const tarballsBefore = registry.tarballRequests().length;
      const project = await emptyDir('orchard-npm-ci-');
      for (const file of ['package.json', 'package-lock.json']) await copyFile(path.join(coldProject, file), path.join(project, file));
      const result = await runNpm(['ci'], { cwd: project, registry: npm.npmUrl, cache: await emptyDir('orchard-npm-cache-') });
      expect(result.code, withLogs(result, npm.orchard)).toBe(0);
      expect(await npmInstalled(project)).toEqual(coldInstalled);
      expect(registry.tarballRequests().length).toBe(tarballsBefore);
      expect(notFromOrchard()).toEqual([]);
    },
    CLI_TEST_MS,
  );

  it(
    'installs from Orchard alone once the upstream is down',
    async () => {
      await registry.stop();
      const project = await createProject(fixture.roots);
      const result = await runNpm(['install'], { cwd: project, registry: npm.npmUrl, cache: await emptyDir('orchard-npm-cache-') });
      expect(result.code, withLogs(result, npm.orchard)).toBe(0);
      expect(await npmInstalled(project)).toEqual(coldInstalled);
    },
    CLI_TEST_MS,
  );
});
