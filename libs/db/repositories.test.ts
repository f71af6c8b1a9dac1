import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres.js';
import { ArtifactRepository, urlHash, type FetchedArtifact } from './artifact-repository.js';
import { createPrismaClient, type PrismaClient } from './client.js';
import { runMigrations } from './migrate.js';
import { npmProtocol } from '../protocol/npm/index.js';
import { pypiProtocol } from '../protocol/pypi/index.js';
import { ReleaseRepository, type DependencyInput, type ExtractionInput } from './release-repository.js';
import { sha256Hex } from './sha256.js';
import { toPublic, UpstreamRepository } from './upstream-repository.js';

let db: TestDatabase;
let prisma: PrismaClient;
let artifacts: ArtifactRepository;
let releases: ReleaseRepository;
let upstreams: UpstreamRepository;

beforeAll(async () => {
  db = await createTestDatabase();
  await runMigrations({ databaseUrl: db.url });
  prisma = createPrismaClient({ databaseUrl: db.url, poolSize: 8 });
  artifacts = new ArtifactRepository(prisma);
  releases = new ReleaseRepository(prisma, pypiProtocol);
  upstreams = new UpstreamRepository(prisma);
});

afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

beforeEach(async () => {
  await prisma.artifact.deleteMany();
  await prisma.upstreamSource.deleteMany();
});

function fetched(name: string, overrides: Partial<FetchedArtifact> = {}): FetchedArtifact {
  const sha256 = sha256Hex(name);
  return {
    sha256,
    size: 1234,
    filename: `${name}-1.0-py3-none-any.whl`,
    project: name,
    protocol: 'pypi',
    storageKey: `blobs/sha256/${sha256.slice(0, 2)}/${sha256.slice(2, 4)}/${sha256}`,
    url: `https://files.example/${name}-1.0-py3-none-any.whl`,
    upstream: 'pypi',
    ...overrides,
  };
}

function dep(name: string, specifier = '', more: Partial<DependencyInput> = {}): DependencyInput {
  return { name, specifier, extras: [], raw: `${name}${specifier}`, ...more };
}

function extraction(artifactSha256: string, project: string, version: string, dependencies: DependencyInput[]): ExtractionInput {
  return {
    artifactSha256,
    project,
    version,
    requiresPython: '>=3.9',
    summary: 'a package',
    metadataVersion: '2.4',
    dependenciesKnown: true,
    providesExtra: ['socks'],
    dynamic: [],
    licenseExpression: 'MIT',
    dependencies,
  };
}

describe('ArtifactRepository', () => {
  it('counts distinct URLs atomically under concurrency', async () => {
    const base = fetched('requests');
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => artifacts.recordFetched({ ...base, url: `https://mirror${i}.example/requests.whl` })));
    expect(results.every((r) => r.urlAdded)).toBe(true);
    expect((await artifacts.find(base.sha256))?.refCount).toBe(20);
    expect(await prisma.cachedUrl.count({ where: { artifactSha256: base.sha256 } })).toBe(20);
  });

  it('does not count a re-fetch of a known URL, even concurrently', async () => {
    const a = fetched('idna');
    const first = await artifacts.recordFetched(a);
    expect(first).toMatchObject({ urlAdded: true, artifact: { refCount: 1, size: 1234n } });
    // The row returned is the row stored, every field under its client name.
    expect(first.artifact).toEqual(await artifacts.find(a.sha256));
    const again = await Promise.all([artifacts.recordFetched(a), artifacts.recordFetched(a)]);
    expect(again.map((r) => r.urlAdded)).toEqual([false, false]);
    const stored = await artifacts.find(a.sha256);
    expect(stored?.refCount).toBe(1);
    expect(stored!.lastFetchedAt.getTime()).toBeGreaterThanOrEqual(first.artifact.lastFetchedAt.getTime());
  });

  it('records a new URL concurrently with a re-fetch exactly once', async () => {
    const a = fetched('urllib3');
    await Promise.all([artifacts.recordFetched(a), artifacts.recordFetched(a), artifacts.recordFetched({ ...a, url: `${a.url}?x` })]);
    expect((await artifacts.find(a.sha256))?.refCount).toBe(2);
  });

  it('moves a URL whose content changed to the new artifact', async () => {
    const old = fetched('six');
    await artifacts.recordFetched(old);
    const replaced = fetched('six-new', { url: old.url });
    await artifacts.recordFetched(replaced);
    expect((await artifacts.find(old.sha256))?.refCount).toBe(0);
    expect((await artifacts.find(replaced.sha256))?.refCount).toBe(1);
    expect((await artifacts.findByUrl(old.url))?.sha256).toBe(replaced.sha256);
  });

  it('moves a URL to its new content once, however many record it at the same time', async () => {
    const old = fetched('attrs');
    await artifacts.recordFetched(old);
    const replaced = fetched('attrs-new', { url: old.url });
    const results = await Promise.all(Array.from({ length: 4 }, () => artifacts.recordFetched(replaced)));
    expect(results.filter((r) => r.urlAdded)).toHaveLength(1);
    expect((await artifacts.find(old.sha256))?.refCount).toBe(0);
    expect((await artifacts.find(replaced.sha256))?.refCount).toBe(1);
    expect((await artifacts.findByUrl(old.url))?.sha256).toBe(replaced.sha256);
  });

  it('keeps one reference for a URL recorded with two contents at the same time', async () => {
    const one = fetched('wheel-one', { url: 'https://files.example/flapping.whl' });
    const other = fetched('wheel-other', { url: one.url });
    await Promise.all([artifacts.recordFetched(one), artifacts.recordFetched(other), artifacts.recordFetched(one), artifacts.recordFetched(other)]);
    const counts = [(await artifacts.find(one.sha256))!.refCount, (await artifacts.find(other.sha256))!.refCount];
    expect(counts.sort()).toEqual([0, 1]);
    expect((await artifacts.findByUrl(one.url))?.refCount).toBe(1);
  });

  it('moves URLs between two artifacts in both directions at the same time, every move counted, none deadlocked', async () => {
    const a = fetched('flip-a');
    const b = fetched('flip-b');
    const urls = (prefix: string) => Array.from({ length: 6 }, (_, i) => `https://files.example/${prefix}${i}.whl`);
    await Promise.all([...urls('a').map((url) => artifacts.recordFetched({ ...a, url })), ...urls('b').map((url) => artifacts.recordFetched({ ...b, url }))]);
    for (let round = 0; round < 3; round++) {
      // Each URL of one artifact now serves the other's content, and back again.
      const [from, to] = round % 2 === 0 ? [a, b] : [b, a];
      await Promise.all([...urls('a').map((url) => artifacts.recordFetched({ ...to, url })), ...urls('b').map((url) => artifacts.recordFetched({ ...from, url }))]);
      expect((await artifacts.find(a.sha256))?.refCount).toBe(6);
      expect((await artifacts.find(b.sha256))?.refCount).toBe(6);
      expect((await artifacts.findByUrl(urls('a')[0]!))?.sha256).toBe(to.sha256);
    }
  });

  it('counts a fetch only when the bytes were downloaded for it', async () => {
    const a = fetched('packaging');
    await artifacts.recordFetched({ ...a, downloaded: true });
    await artifacts.recordFetched({ ...a, downloaded: false });
    expect((await artifacts.find(a.sha256))?.fetchCount).toBe(1);
    const again = await artifacts.recordFetched({ ...a, downloaded: true });
    expect(again.artifact.fetchCount).toBe(2);
  });

  it('finds by URL ignoring the fragment, and keys cached URLs by the URL hash', async () => {
    const a = fetched('certifi');
    await artifacts.recordFetched({ ...a, url: `${a.url}#sha256=${a.sha256}` });
    expect((await artifacts.findByUrl(a.url))?.sha256).toBe(a.sha256);
    expect(await prisma.cachedUrl.findUnique({ where: { urlHash: sha256Hex(a.url) } })).toMatchObject({ url: a.url });
    expect(urlHash(`${a.url}#frag`)).toBe(sha256Hex(a.url));
    expect(await artifacts.findByUrl('https://files.example/unknown.whl')).toBeNull();
  });

  it('sets the metadata sha256 and lists every artifact in batches', async () => {
    const names = Array.from({ length: 7 }, (_, i) => `pkg${i}`);
    for (const n of names) await artifacts.recordFetched(fetched(n));
    expect(await artifacts.setMetadataSha256(sha256Hex('pkg0'), 'f'.repeat(64))).toBe(true);
    expect(await artifacts.setMetadataSha256('0'.repeat(64), 'f'.repeat(64))).toBe(false);
    expect((await artifacts.find(sha256Hex('pkg0')))?.metadataSha256).toBe('f'.repeat(64));

    const listed = [];
    for await (const a of artifacts.listAll({ batchSize: 3 })) listed.push(a);
    expect(listed.map((a) => a.sha256)).toEqual(names.map((n) => sha256Hex(n)).sort());
    expect(Object.keys(listed[0]!).sort()).toEqual(['filename', 'project', 'sha256', 'storageKey']);
  });
});

describe('ReleaseRepository', () => {
  it('writes the release and its dependencies, and a re-run replaces rather than duplicates', async () => {
    const a = fetched('requests');
    await artifacts.recordFetched(a);
    const deps = [
      dep('charset_normalizer', '<4,>=2'),
      dep('idna', '<4,>=2.5'),
      dep('PySocks', '!=1.5.7,>=1.5.6', { extra: 'socks', marker: 'extra == "socks"', raw: 'PySocks!=1.5.7,>=1.5.6; extra == "socks"' }),
    ];
    const first = await releases.recordExtraction(extraction(a.sha256, 'Requests', '2.32.3', deps));
    expect(first.dependencies).toBe(3);
    expect(first.release).toMatchObject({ project: 'requests', metadataStatus: 'ok', metadataError: null, providesExtra: ['socks'] });

    const second = await releases.recordExtraction(extraction(a.sha256, 'requests', '2.32.3', [deps[0]!, deps[0]!, dep('urllib3')]));
    expect(second.dependencies).toBe(2);
    expect(second.release.id).toBe(first.release.id);

    const facts = await releases.artifactFacts(a.sha256);
    expect(facts?.release?.version).toBe('2.32.3');
    expect(facts?.dependencies.map((d) => d.name)).toEqual(['charset-normalizer', 'urllib3']);
    expect(await prisma.release.count()).toBe(1);
    expect(await releases.artifactFacts('0'.repeat(64))).toBeNull();
  });

  it('records a failure leaving no dependency rows and no stale facts', async () => {
    const a = fetched('broken');
    await artifacts.recordFetched(a);
    await releases.recordExtraction(extraction(a.sha256, 'broken', '1.0', [dep('idna'), dep('six')]));
    const failed = await releases.recordFailure({ artifactSha256: a.sha256, project: 'broken', status: 'failed', reason: 'bad zip' });
    expect(failed).toMatchObject({ metadataStatus: 'failed', metadataError: 'bad zip', version: '1.0', summary: null, dependenciesKnown: false });
    expect(await prisma.artifactDependency.count({ where: { artifactSha256: a.sha256 } })).toBe(0);

    const b = fetched('weird');
    await artifacts.recordFetched(b);
    const unsupported = await releases.recordFailure({ artifactSha256: b.sha256, project: 'Weird', status: 'unsupported', reason: 'egg' });
    expect(unsupported).toMatchObject({ project: 'weird', version: '', metadataStatus: 'unsupported' });
  });

  it('pages the requirements of every artifact of a version, and dependents by normalised name', async () => {
    const wheel = fetched('attrs-wheel', { project: 'attrs' });
    const sdist = fetched('attrs-sdist', { project: 'attrs', filename: 'attrs-23.1.0.tar.gz' });
    const other = fetched('aiohttp');
    const older = fetched('aiohttp-old', { project: 'aiohttp' });
    for (const a of [wheel, sdist, other, older]) await artifacts.recordFetched(a);
    await releases.recordExtraction(extraction(wheel.sha256, 'attrs', '23.1.0', [dep('importlib-metadata', '', { marker: 'python_version < "3.8"' })]));
    await releases.recordExtraction(extraction(sdist.sha256, 'attrs', '23.1.0', [dep('importlib_metadata')]));
    await releases.recordExtraction(extraction(other.sha256, 'aiohttp', '3.9.0', [dep('attrs', '>=17.3.0'), dep('yarl')]));
    await releases.recordExtraction(extraction(older.sha256, 'aiohttp', '3.8.0', [dep('Attrs', '>=17.3.0', { extras: ['x'] })]));

    const ofAttrs = await releases.releaseArtifacts('Attrs', ['23.1.0']);
    expect(ofAttrs.map((r) => [r.filename, r.release.version])).toEqual([
      ['attrs-23.1.0.tar.gz', '23.1.0'],
      [wheel.filename, '23.1.0'],
    ]);
    const rows = await releases.releaseDependencyPage(ofAttrs, undefined, 10);
    expect(rows.items.map((d) => [d.artifactSha256, d.name])).toEqual([
      [sdist.sha256, 'importlib-metadata'],
      [wheel.sha256, 'importlib-metadata'],
    ]);
    expect(rows.more).toBe(false);
    expect(await releases.releaseArtifacts('attrs', ['0.0'])).toEqual([]);

    const dependents = await releases.dependentsPage('ATTRS', undefined, 10);
    expect(dependents).toEqual({
      items: [
        {
          project: 'aiohttp',
          version: '3.8.0',
          specifier: '>=17.3.0',
          extras: ['x'],
          marker: null,
          url: null,
          extra: null,
          kind: null,
          raw: 'Attrs>=17.3.0',
          artifacts: [{ sha256: older.sha256, filename: older.filename }],
        },
        {
          project: 'aiohttp',
          version: '3.9.0',
          specifier: '>=17.3.0',
          extras: [],
          marker: null,
          url: null,
          extra: null,
          kind: null,
          raw: 'attrs>=17.3.0',
          artifacts: [{ sha256: other.sha256, filename: other.filename }],
        },
      ],
      more: false,
    });
    const first = await releases.dependentsPage('attrs', undefined, 1);
    expect(first.more).toBe(true);
    expect(await releases.dependentsPage('attrs', first.items[0], 1)).toEqual({ items: [dependents.items[1]], more: false });
    expect((await releases.dependentsPage('importlib.metadata', undefined, 10)).items.map((r) => [r.raw, r.artifacts.map((a) => a.filename)])).toEqual([
      ['importlib-metadata', [wheel.filename]],
      ['importlib_metadata', [sdist.filename]],
    ]);
  });

  it('keeps each protocol\u2019s releases apart: the same name in npm and PyPI never meets', async () => {
    const npmReleases = new ReleaseRepository(prisma, npmProtocol);
    const wheel = fetched('react-pypi', { project: 'react' });
    const tarball = fetched('react-npm', { project: 'react', protocol: 'npm', filename: 'react-18.0.0.tgz' });
    const app = fetched('app-npm', { project: '@acme/app', protocol: 'npm', filename: 'app-1.0.0.tgz' });
    for (const a of [wheel, tarball, app]) await artifacts.recordFetched(a);
    await releases.recordExtraction(extraction(wheel.sha256, 'react', '1.0', []));
    await npmReleases.recordExtraction(extraction(tarball.sha256, 'react', '18.0.0', []));
    await npmReleases.recordExtraction(extraction(app.sha256, '@acme/app', '1.0.0', [dep('react', '^18.0.0', { kind: 'peer', raw: 'peerDependencies:react@^18.0.0' })]));

    expect(await releases.versionsOf('react')).toEqual(['1.0']);
    expect(await npmReleases.versionsOf('react')).toEqual(['18.0.0']);
    expect(await prisma.release.findUnique({ where: { artifactSha256: tarball.sha256 } })).toMatchObject({ protocol: 'npm', project: 'react' });
    expect((await npmReleases.dependentsPage('react', undefined, 10)).items).toEqual([
      expect.objectContaining({ project: '@acme/app', version: '1.0.0', specifier: '^18.0.0', kind: 'peer', raw: 'peerDependencies:react@^18.0.0' }),
    ]);
    expect((await releases.dependentsPage('react', undefined, 10)).items).toEqual([]);
    expect(await releases.artifactFacts(tarball.sha256)).toBeNull();
    expect(await npmReleases.artifactFacts(tarball.sha256)).toMatchObject({ protocol: 'npm', release: { version: '18.0.0' } });
  });

  it('inserts dependencies one by one for the benchmark', async () => {
    const a = fetched('bench');
    await artifacts.recordFetched(a);
    expect(await releases.insertDependenciesOneByOne(a.sha256, [dep('a'), dep('b'), dep('c')])).toBe(3);
    expect(await prisma.artifactDependency.count({ where: { artifactSha256: a.sha256 } })).toBe(3);
  });
});

describe('UpstreamRepository', () => {
  it('creates, lists by priority then name, updates and removes upstreams', async () => {
    await upstreams.create({ name: 'pypi', url: 'https://pypi.org/simple/' });
    await upstreams.create({ name: 'internal', url: 'https://pkgs.example/simple/', priority: 10, authType: 'bearer', authSecret: 'tok' });
    await upstreams.create({ name: 'alpha', url: 'https://alpha.example/simple/' });
    expect((await upstreams.list()).map((u) => u.name)).toEqual(['internal', 'alpha', 'pypi']);
    expect((await upstreams.get('internal'))?.authSecret).toBe('tok');
    expect(await upstreams.get('missing')).toBeNull();

    const updated = await upstreams.update('pypi', { priority: 1, enabled: false });
    expect(updated).toMatchObject({ priority: 1, enabled: false });
    expect(await upstreams.update('missing', { priority: 1 })).toBeNull();
    expect((await upstreams.list())[0]?.name).toBe('pypi');

    expect(await upstreams.remove('alpha')).toBe(true);
    expect(await upstreams.remove('alpha')).toBe(false);
    await expect(upstreams.create({ name: 'pypi', url: 'https://x.example/' })).rejects.toMatchObject({ code: 'P2002' });
  });

  it('renders upstreams without their secret', async () => {
    const withSecret = await upstreams.create({ name: 'private', url: 'https://p.example/', authType: 'basic', authSecret: 'u:p' });
    const open = await upstreams.create({ name: 'open', url: 'https://o.example/' });
    const shown = toPublic(withSecret);
    expect(shown).not.toHaveProperty('authSecret');
    expect(JSON.stringify(shown)).not.toContain('u:p');
    expect(shown.hasCredentials).toBe(true);
    expect(toPublic(open).hasCredentials).toBe(false);
  });
});
