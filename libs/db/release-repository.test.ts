import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres.js';
import { ArtifactRepository } from './artifact-repository.js';
import { createPrismaClient, type PrismaClient } from './client.js';
import { pypiProtocol } from '../protocol/pypi/index.js';
import { runMigrations } from './migrate.js';
import { ReleaseRepository, type DependencyInput, type ExtractionInput } from './release-repository.js';
import { sha256Hex } from './sha256.js';

let db: TestDatabase;
let prisma: PrismaClient;
let artifacts: ArtifactRepository;
let releases: ReleaseRepository;

beforeAll(async () => {
  db = await createTestDatabase();
  await runMigrations({ databaseUrl: db.url });
  prisma = createPrismaClient({ databaseUrl: db.url, poolSize: 4 });
  artifacts = new ArtifactRepository(prisma);
  releases = new ReleaseRepository(prisma, pypiProtocol);
});

afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

beforeEach(async () => {
  await prisma.artifact.deleteMany();
});

async function artifact(name: string, filename = `${name}-1.0-py3-none-any.whl`): Promise<string> {
  const sha256 = sha256Hex(`${name}/${filename}`);
  await artifacts.recordFetched({
    sha256,
    size: 10,
    filename,
    project: name,
    protocol: 'pypi',
    storageKey: `blobs/sha256/${sha256.slice(0, 2)}/${sha256.slice(2, 4)}/${sha256}`,
    url: `https://files.example/${filename}`,
    upstream: 'pypi',
  });
  return sha256;
}

function extraction(artifactSha256: string, dependencies: DependencyInput[], more: Partial<ExtractionInput> = {}): ExtractionInput {
  return {
    artifactSha256,
    project: 'pkg',
    version: '1.0',
    requiresPython: null,
    summary: null,
    metadataVersion: '2.1',
    dependenciesKnown: true,
    providesExtra: [],
    dynamic: [],
    licenseExpression: null,
    dependencies,
    ...more,
  };
}

describe('ReleaseRepository.recordExtraction (one multi-row insert)', () => {
  it('keeps every column exactly, including ragged extras, nulls and awkward text, in declared order', async () => {
    const sha = await artifact('pkg');
    const deps: DependencyInput[] = [
      { name: 'Zope.Interface', specifier: '>=5', extras: [], raw: 'Zope.Interface>=5' },
      { name: 'b', specifier: '', extras: ['x', 'y,z', 'q"uote', '{brace}'], marker: 'extra == "Dev"', extra: 'dev', raw: 'b[x]; extra == "Dev"' },
      { name: 'a', specifier: '', extras: [], url: 'https://h.example/a-1.0.whl', raw: 'a @ https://h.example/a-1.0.whl' },
      { name: 'ünïcode', specifier: '==1', extras: ['é'], marker: "os_name == 'nt' and 'x' in platform_version", raw: "ünïcode==1; os_name == 'nt'" },
    ];
    const { dependencies } = await releases.recordExtraction(extraction(sha, deps));
    expect(dependencies).toBe(4);
    const rows = await prisma.artifactDependency.findMany({ where: { artifactSha256: sha }, orderBy: { id: 'asc' } });
    expect(rows.map(({ name, specifier, extras, marker, url, extra, raw }) => ({ name, specifier, extras, marker, url, extra, raw }))).toEqual([
      { name: 'zope-interface', specifier: '>=5', extras: [], marker: null, url: null, extra: null, raw: 'Zope.Interface>=5' },
      { name: 'b', specifier: '', extras: ['x', 'y,z', 'q"uote', '{brace}'], marker: 'extra == "Dev"', url: null, extra: 'dev', raw: 'b[x]; extra == "Dev"' },
      { name: 'a', specifier: '', extras: [], marker: null, url: 'https://h.example/a-1.0.whl', extra: null, raw: 'a @ https://h.example/a-1.0.whl' },
      { name: 'ünïcode', specifier: '==1', extras: ['é'], marker: "os_name == 'nt' and 'x' in platform_version", url: null, extra: null, raw: "ünïcode==1; os_name == 'nt'" },
    ]);
  });

  it('writes no rows for no requirements, and skips a requirement declared twice', async () => {
    const sha = await artifact('pkg');
    expect((await releases.recordExtraction(extraction(sha, []))).dependencies).toBe(0);
    const twice = { name: 'six', specifier: '', extras: [], raw: 'six' };
    expect((await releases.recordExtraction(extraction(sha, [twice, twice]))).dependencies).toBe(1);
    expect(await prisma.artifactDependency.count()).toBe(1);
  });

  it('writes 10,000 requirements in one go', async () => {
    const sha = await artifact('big');
    const deps = Array.from({ length: 10_000 }, (_, i) => ({
      name: `dep-${i}`,
      specifier: '>=1',
      extras: ['a'],
      marker: 'python_version >= "3"',
      raw: `dep-${i}>=1; python_version >= "3"`,
    }));
    expect((await releases.recordExtraction(extraction(sha, deps))).dependencies).toBe(10_000);
    expect(await prisma.artifactDependency.count({ where: { artifactSha256: sha } })).toBe(10_000);
  });

  it('sets the metadata sha256 with the facts, and rolls both back together', async () => {
    const sha = await artifact('pkg');
    await releases.recordExtraction(extraction(sha, [{ name: 'a', specifier: '', extras: [], raw: 'a' }], { metadataSha256: 'e'.repeat(64) }));
    expect((await artifacts.find(sha))?.metadataSha256).toBe('e'.repeat(64));

    // A row PostgreSQL refuses (NUL in text) aborts the whole transaction: the old facts stay.
    const bad = extraction(sha, [{ name: 'b', specifier: '', extras: [], raw: 'b\u0000' }], { version: '2.0', metadataSha256: 'f'.repeat(64) });
    await expect(releases.recordExtraction(bad)).rejects.toThrow();
    expect((await artifacts.find(sha))?.metadataSha256).toBe('e'.repeat(64));
    const facts = await releases.artifactFacts(sha);
    expect(facts?.release?.version).toBe('1.0');
    expect(facts?.dependencies.map((d) => d.raw)).toEqual(['a']);
  });
});

describe('ReleaseRepository queries for the API and re-extraction', () => {
  it('lists the distinct versions of a project and counts releases per status', async () => {
    const a = await artifact('pkg', 'pkg-1.0-py3-none-any.whl');
    const b = await artifact('pkg', 'pkg-1.0.tar.gz');
    const c = await artifact('pkg', 'pkg-1.0.0-py3-none-any.whl');
    const d = await artifact('other');
    await releases.recordExtraction(extraction(a, []));
    await releases.recordExtraction(extraction(b, []));
    await releases.recordExtraction(extraction(c, [], { version: '1.0.0' }));
    await releases.recordFailure({ artifactSha256: d, project: 'other', status: 'failed', reason: 'bad zip' });
    expect((await releases.versionsOf('PKG')).sort()).toEqual(['1.0', '1.0.0']);
    expect(await releases.versionsOf('nothing')).toEqual([]);
    expect(await releases.statusCounts()).toEqual({ ok: 3, failed: 1 });
  });

  it('gives dependents their url and raw requirement', async () => {
    const sha = await artifact('app');
    await releases.recordExtraction(
      extraction(sha, [{ name: 'Lib', specifier: '', extras: [], url: 'https://x.example/lib.whl', raw: 'Lib @ https://x.example/lib.whl' }], { project: 'app' }),
    );
    expect((await releases.dependentsPage('lib', undefined, 10)).items).toEqual([
      expect.objectContaining({ project: 'app', url: 'https://x.example/lib.whl', raw: 'Lib @ https://x.example/lib.whl' }),
    ]);
  });
});

describe('dependency rows (Prisma createMany with skipDuplicates)', () => {
  it('are written in declared order, normalised, with every field kept and a duplicate skipped', async () => {
    const deps: DependencyInput[] = [
      { name: 'Zope.Interface', specifier: '>=5', extras: [], raw: 'Zope.Interface>=5' },
      { name: 'b', specifier: '', extras: ['x', 'y,z', 'q"uote', '{brace}'], marker: 'extra == "Dev"', extra: 'dev', raw: 'b[x]; extra == "Dev"' },
      { name: 'Zope.Interface', specifier: '>=5', extras: [], raw: 'Zope.Interface>=5' },
      { name: 'a', specifier: '', extras: [], url: 'https://h.example/a-1.0.whl', raw: 'a @ https://h.example/a-1.0.whl' },
    ];
    const sha = await artifact('via-create-many');
    expect((await new ReleaseRepository(prisma, pypiProtocol).recordExtraction(extraction(sha, deps))).dependencies).toBe(3);
    const rows = (await prisma.artifactDependency.findMany({ where: { artifactSha256: sha }, orderBy: { id: 'asc' } })).map(
      ({ name, specifier, extras, marker, url, extra, raw }) => ({ name, specifier, extras, marker, url, extra, raw }),
    );
    expect(rows).toEqual([
      { name: 'zope-interface', specifier: '>=5', extras: [], marker: null, url: null, extra: null, raw: 'Zope.Interface>=5' },
      { name: 'b', specifier: '', extras: ['x', 'y,z', 'q"uote', '{brace}'], marker: 'extra == "Dev"', url: null, extra: 'dev', raw: 'b[x]; extra == "Dev"' },
      { name: 'a', specifier: '', extras: [], marker: null, url: 'https://h.example/a-1.0.whl', extra: null, raw: 'a @ https://h.example/a-1.0.whl' },
    ]);
  });
});
