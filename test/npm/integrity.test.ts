/**
 * A tarball whose bytes do not match the integrity its packument published: the install fails and
 * Orchard keeps nothing of it (no artifact row, no stored bytes), while a good package installs
 * and is stored by the same Orchard.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixtureRegistry, tamperedBytes, type NpmRegistry, type NpmVersion } from '../support/npm-registry.js';
import { waitFor } from '../support/wait.js';
import { CLI_TIMEOUT_MS, createProject, emptyDir, npmInstalled, orchardId, removeTempDirs, runNpm, runPnpm, startNpmOrchard, withLogs, type NpmOrchard } from './helpers.js';

const CLI_TEST_MS = CLI_TIMEOUT_MS + 30_000;
const TAMPERED = 'orchard-test-tampered';

/** The sha256 of every file under `dir`. */
async function fileDigests(dir: string): Promise<Set<string>> {
  const digests = new Set<string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    digests.add(
      createHash('sha256')
        .update(await readFile(path.join(entry.parentPath, entry.name)))
        .digest('hex'),
    );
  }
  return digests;
}

describe('a tarball that does not match its published integrity', () => {
  let registry: NpmRegistry;
  let npm: NpmOrchard;
  let db: pg.Client;
  let tampered: NpmVersion;
  /** Orchard's ids of the genuine and of the altered bytes: no row may have either. */
  let forbiddenIds: string[] = [];
  /** sha256 of the genuine and of the altered bytes: no stored file may have either. */
  let forbiddenContent: string[] = [];

  beforeAll(async () => {
    registry = (await buildFixtureRegistry()).registry;
    tampered = await registry.publish(
      { name: TAMPERED, version: '1.0.0', description: 'Served altered', license: 'MIT', main: 'index.js', dependencies: { ms: '^2.1.0' } },
      { 'index.js': 'module.exports = 1;\n' },
    );
    registry.tampered.add(`${TAMPERED}@1.0.0`);
    const altered = tamperedBytes(tampered.tarball);
    forbiddenIds = [orchardId(tampered), createHash('sha512').update(altered).digest('hex').slice(0, 64)];
    forbiddenContent = [tampered.sha256, createHash('sha256').update(altered).digest('hex')];
    await registry.start();
    npm = await startNpmOrchard(registry);
    db = new pg.Client({ connectionString: npm.orchard.database.url });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await npm?.stop();
    await registry?.stop();
    await removeTempDirs();
  });

  const tarballRequests = () => registry.tarballRequests().filter((r) => r.path.includes(`/${TAMPERED}/`));

  /** Nothing of the tampered package in PostgreSQL or in storage. */
  async function expectNothingStored(): Promise<void> {
    const { rows } = await db.query(`SELECT sha256, filename FROM artifact WHERE project = $1 OR sha256 = ANY($2)`, [TAMPERED, forbiddenIds]);
    expect(rows).toEqual([]);
    const stored = await fileDigests(npm.orchard.dataDir);
    for (const sha256 of forbiddenContent) expect(stored.has(sha256)).toBe(false);
  }

  it(
    'a good package installs through the same Orchard and is stored',
    async () => {
      const project = await createProject({ ms: '^2.1.3' });
      const result = await runNpm(['install'], { cwd: project, registry: npm.npmUrl, cache: await emptyDir('orchard-npm-cache-') });
      expect(result.code, withLogs(result, npm.orchard)).toBe(0);
      expect(await npmInstalled(project)).toEqual(new Set(['ms@2.1.3']));
      const ms = registry.version('ms', '2.1.3');
      const stored = await waitFor('ms stored', async () => {
        const { rows } = await db.query(`SELECT filename FROM artifact WHERE sha256 = $1 AND protocol = 'npm'`, [orchardId(ms)]);
        return rows.length > 0 && (await fileDigests(npm.orchard.dataDir)).has(ms.sha256) ? rows : undefined;
      });
      expect(stored).toEqual([{ filename: ms.filename }]);
    },
    CLI_TEST_MS,
  );

  it(
    'npm install fails, and nothing of it is stored',
    async () => {
      const project = await createProject({ [TAMPERED]: '^1.0.0' });
      // No retries: the answer will not change, and npm would wait 70 s between them.
      const result = await runNpm(['install', '--fetch-retries=0'], { cwd: project, registry: npm.npmUrl, cache: await emptyDir('orchard-npm-cache-') });
      expect(result.code, withLogs(result, npm.orchard)).not.toBe(0);
      // npm names Orchard's URL and passes on why Orchard refused the bytes.
      const failure = result.stderr.split('\n').find((line) => line.includes(`${npm.orchard.gatewayUrl}/npm/-/files/${TAMPERED}/`));
      expect(failure, withLogs(result, npm.orchard)).toMatch(/502 Bad Gateway.*does not match its published sha512/);
      // Orchard downloaded it (and refused it); npm never reached the upstream.
      expect(tarballRequests().length).toBeGreaterThanOrEqual(1);
      expect(tarballRequests().every((r) => r.userAgent?.startsWith('orchard') && r.npmCommand === undefined)).toBe(true);
      await expectNothingStored();
    },
    CLI_TEST_MS,
  );

  it('Orchard answers the tarball URL it published with 502 Bad Gateway', async () => {
    const res = await fetch(`${npm.npmUrl}${TAMPERED}`);
    expect(res.status).toBe(200);
    const packument = (await res.json()) as { versions: Record<string, { dist: { tarball: string; integrity: string } }> };
    const dist = packument.versions['1.0.0']!.dist;
    expect(dist.integrity).toBe(tampered.integrity);
    const tarball = await fetch(dist.tarball);
    expect(tarball.status, await tarball.text()).toBe(502);
    await expectNothingStored();
  });

  it(
    'pnpm install fails too, and nothing of it is stored',
    async () => {
      const project = await createProject({ [TAMPERED]: '^1.0.0' }, 'orchard-pnpm-project-');
      // No retries (pnpm reads the setting from its workspace file): the answer will not change.
      await writeFile(path.join(project, 'pnpm-workspace.yaml'), 'fetchRetries: 0\n');
      const result = await runPnpm(['install', '--ignore-scripts'], { cwd: project, registry: npm.npmUrl, store: await emptyDir('orchard-pnpm-store-') });
      expect(result.code, withLogs(result, npm.orchard)).not.toBe(0);
      await expectNothingStored();
    },
    CLI_TEST_MS,
  );
});
