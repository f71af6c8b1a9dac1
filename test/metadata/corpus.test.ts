import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metadataKey } from '../../libs/storage/index.js';
import { generateCorpus, type CorpusFile } from './corpus.js';
import { createExtractionHarness, storedDependencies, type ExtractionHarness } from './harness.js';

let h: ExtractionHarness;
let corpus: CorpusFile[];

beforeAll(async () => {
  h = await createExtractionHarness();
  corpus = await generateCorpus({ seed: 7, wheels: 70, sdists: 50 });
});

afterAll(async () => {
  await h?.close();
});

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('a generated corpus through the real extract handler into PostgreSQL', () => {
  it('covers the spellings and metadata versions it claims to', () => {
    const raws = corpus.flatMap((f) => f.dependencies.map((d) => d.raw));
    expect(raws.length).toBeGreaterThan(800);
    expect(raws.some((r) => /@/.test(r))).toBe(true);
    expect(raws.some((r) => /\(\s*[<>=!~]/.test(r))).toBe(true);
    expect(raws.some((r) => / or .*extra|extra.* or /.test(r))).toBe(true);
    expect(raws.some((r) => /'[^']+' == extra/.test(r))).toBe(true);
    expect(corpus.some((f) => f.dependencies.some((d) => d.extra !== null))).toBe(true);
    expect(new Set(corpus.map((f) => `${f.kind} ${f.metadataVersion}`)).size).toBeGreaterThanOrEqual(10);
    expect(new Set(corpus.map((f) => f.filename.replace(/^.*?\.(whl|tar\.gz|zip|tar)$/, '$1')))).toEqual(new Set(['whl', 'tar.gz', 'zip', 'tar']));
    expect(corpus.some((f) => f.kind === 'sdist' && !f.dependenciesKnown)).toBe(true);
    // Metadata 2.2+ sdists whose Requires-Dist is not Dynamic: their dependencies are known.
    expect(corpus.some((f) => f.kind === 'sdist' && f.dependenciesKnown && f.dependencies.length > 0)).toBe(true);
  });

  it('stores exactly the declared requirements, release facts and metadata file for every file', async () => {
    for (const file of corpus) {
      const job = await h.storeArtifact(file);
      const outcome = await h.extract(job);
      expect(outcome, file.filename).toEqual({ status: 'ok', dependencies: file.dependencies.length });
    }
    for (const file of corpus) {
      expect(await storedDependencies(h.prisma, file.sha256), file.filename).toEqual(file.dependencies);
      const release = await h.prisma.release.findUniqueOrThrow({ where: { artifactSha256: file.sha256 } });
      expect(release, file.filename).toMatchObject({
        project: file.project.replace(/[-_.]+/g, '-').toLowerCase(),
        version: file.version,
        metadataVersion: file.metadataVersion,
        metadataStatus: 'ok',
        metadataError: null,
        requiresPython: file.requiresPython,
        dependenciesKnown: file.dependenciesKnown,
      });
      // Stored under its own digest, the one recorded for the artifact.
      const digest = createHash('sha256').update(file.metadata).digest('hex');
      expect((await h.artifacts.find(file.sha256))?.metadataSha256, file.filename).toBe(digest);
      const stored = await h.store.get(metadataKey(digest));
      expect(stored, file.filename).not.toBeNull();
      expect((await readAll(stored!.body)).equals(file.metadata), file.filename).toBe(true);
    }
    expect(await h.prisma.artifactDependency.count()).toBe(corpus.reduce((n, f) => n + f.dependencies.length, 0));
  });

  it('gives the same rows when every file is extracted again', async () => {
    const before = await h.prisma.artifactDependency.count();
    for (const file of corpus.slice(0, 20)) await h.extract({ protocol: 'pypi', sha256: file.sha256, project: file.project, filename: file.filename });
    for (const file of corpus.slice(0, 20)) expect(await storedDependencies(h.prisma, file.sha256)).toEqual(file.dependencies);
    expect(await h.prisma.artifactDependency.count()).toBe(before);
  });
});
