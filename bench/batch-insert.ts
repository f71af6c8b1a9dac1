/**
 * Batch dependency insertion versus one insert per row, on 10,000 requirements, against the local
 * PostgreSQL: `ReleaseRepository.recordExtraction` (release upsert + one multi-row insert, in one
 * transaction) against `insertDependenciesOneByOne` (one INSERT per row). For reference it also
 * times Prisma's own `createMany({ skipDuplicates: true })` on the same rows, the form the design
 * first named (see the README's performance section for why the repository does not use it).
 *
 *   npx tsx bench/batch-insert.ts            prints a JSON result; exit status 1 if batch < 10× faster
 *
 * Environment: BENCH_REQUIREMENTS (10000), BENCH_BATCH_RUNS (5), BENCH_ROW_RUNS (1).
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import { createPrismaClient, ReleaseRepository, runMigrations, type DependencyInput, type PrismaClient } from '../libs/db/index.js';
import { createTestDatabase } from '../test/support/postgres.js';

export interface BatchInsertResult {
  benchmark: 'batch-insert';
  date: string;
  machine: { cpus: number; model: string; node: string };
  requirements: number;
  /** Median milliseconds for the whole recordExtraction transaction. */
  batchMs: number;
  /** Median milliseconds for one INSERT per row. */
  oneByOneMs: number;
  /** Median milliseconds for Prisma createMany({ skipDuplicates: true }) alone, for reference. */
  prismaCreateManyMs: number;
  /** oneByOneMs / batchMs. */
  ratio: number;
  target: '>= 10';
  met: boolean;
  runs: { batch: number[]; oneByOne: number[]; prismaCreateMany: number[] };
}

function requirements(n: number): DependencyInput[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `Dep_Project.${i}`,
    specifier: '>=1.0,<2',
    extras: i % 3 === 0 ? ['socks', 'fast'] : [],
    marker: i % 2 === 0 ? `python_version >= "3.8" and extra == "x${i % 7}"` : null,
    extra: i % 2 === 0 ? `x${i % 7}` : null,
    raw: `Dep_Project.${i}[socks,fast]>=1.0,<2; python_version >= "3.8" and extra == "x${i % 7}"`,
  }));
}

async function newArtifact(prisma: PrismaClient, label: string): Promise<string> {
  const sha256 = createHash('sha256').update(label).digest('hex');
  await prisma.artifact.create({ data: { sha256, size: 1n, filename: `bench-1.0-${label}.tar.gz`, project: 'bench', storageKey: `blobs/sha256/${sha256}` } });
  return sha256;
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Runs the benchmark on a fresh database and returns its result. */
export async function runBatchInsertBench(options: { requirements?: number; batchRuns?: number; rowRuns?: number } = {}): Promise<BatchInsertResult> {
  const n = options.requirements ?? 10_000;
  const deps = requirements(n);
  const db = await createTestDatabase();
  const prisma = createPrismaClient({ databaseUrl: db.url, poolSize: 4 });
  try {
    await runMigrations({ databaseUrl: db.url });
    const releases = new ReleaseRepository(prisma);
    const extraction = (artifactSha256: string) => ({
      artifactSha256,
      project: 'bench',
      version: '1.0',
      requiresPython: '>=3.8',
      summary: null,
      metadataVersion: '2.4',
      dependenciesKnown: true,
      providesExtra: [],
      dynamic: [],
      licenseExpression: null,
      dependencies: deps,
    });
    let k = 0;
    // Warm up connections and Prisma's query plans on a small batch of each kind.
    await releases.recordExtraction({ ...extraction(await newArtifact(prisma, `w${k++}`)), dependencies: deps.slice(0, 100) });
    await releases.insertDependenciesOneByOne(await newArtifact(prisma, `w${k++}`), deps.slice(0, 100));
    const runs = { batch: [] as number[], oneByOne: [] as number[], prismaCreateMany: [] as number[] };
    for (let i = 0; i < (options.batchRuns ?? 5); i++) {
      const sha = await newArtifact(prisma, `b${k++}`);
      runs.batch.push(await time(() => releases.recordExtraction(extraction(sha))));
      const ref = await newArtifact(prisma, `c${k++}`);
      const rows = deps.map((d) => ({ artifactSha256: ref, name: d.name, specifier: d.specifier, extras: d.extras, marker: d.marker ?? null, url: null, extra: d.extra ?? null, raw: d.raw }));
      runs.prismaCreateMany.push(await time(() => prisma.artifactDependency.createMany({ data: rows, skipDuplicates: true })));
    }
    for (let i = 0; i < (options.rowRuns ?? 1); i++) {
      const sha = await newArtifact(prisma, `o${k++}`);
      runs.oneByOne.push(await time(() => releases.insertDependenciesOneByOne(sha, deps)));
    }
    const batchMs = median(runs.batch);
    const oneByOneMs = median(runs.oneByOne);
    const ratio = oneByOneMs / batchMs;
    const cpus = os.cpus();
    return {
      benchmark: 'batch-insert',
      date: new Date().toISOString(),
      machine: { cpus: cpus.length, model: cpus[0]?.model ?? 'unknown', node: process.version },
      requirements: n,
      batchMs: round(batchMs),
      oneByOneMs: round(oneByOneMs),
      prismaCreateManyMs: round(median(runs.prismaCreateMany)),
      ratio: round(ratio),
      target: '>= 10',
      met: ratio >= 10,
      runs: { batch: runs.batch.map(round), oneByOne: runs.oneByOne.map(round), prismaCreateMany: runs.prismaCreateMany.map(round) },
    };
  } finally {
    await prisma.$disconnect();
    await db.drop();
  }
}

const round = (x: number) => Math.round(x * 10) / 10;

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runBatchInsertBench({
    requirements: Number(process.env.BENCH_REQUIREMENTS ?? 10_000),
    batchRuns: Number(process.env.BENCH_BATCH_RUNS ?? 5),
    rowRuns: Number(process.env.BENCH_ROW_RUNS ?? 1),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  process.exitCode = result.met ? 0 : 1;
}
