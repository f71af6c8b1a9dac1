/**
 * Dependency-row writing, against the local PostgreSQL, with two writers (`DependencyWriter`):
 * Prisma's `createMany({ skipDuplicates: true })`, the product's, and as the baseline the raw
 * `INSERT … SELECT FROM unnest(…)` Orchard used before (bench/lib/raw-sql-dependencies.ts).
 *
 * - Realistic shape: `ReleaseRepository.recordExtraction` (release upsert + dependency rows, one
 *   transaction) for 500 artifacts of 5–50 requirements each, one at a time, the two writers
 *   interleaved artifact by artifact so that drift in the machine's load hits both alike.
 * - One large batch: 10,000 requirements in one `recordExtraction`, with each writer, against
 *   `insertDependenciesOneByOne` (one INSERT per row); the target is the product's writer ≥ 10× faster.
 *
 *   npx tsx bench/batch-insert.ts            prints a JSON result (`met`: whether batch ≥ 10× faster)
 *
 * Environment: BENCH_ARTIFACTS (500), BENCH_REQUIREMENTS (10000), BENCH_BATCH_RUNS (5), BENCH_ROW_RUNS (1).
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import { createPrismaClient, ReleaseRepository, runMigrations, type DependencyInput, type ExtractionInput, type PrismaClient } from '../libs/db/index.js';
import { PRODUCT_WRITER, releaseRepositoryWith, type DependencyWriter } from './lib/raw-sql-dependencies.js';
import { median, percentile } from './lib/stats.js';
import { pypiProtocol } from '../libs/protocol/pypi/index.js';
import { createTestDatabase } from '../test/support/postgres.js';

const WRITERS: DependencyWriter[] = ['createMany', 'unnest'];
const DEFAULT_WRITER = PRODUCT_WRITER;

interface ShapeFigures {
  /** Milliseconds for all the artifacts' recordExtraction calls. */
  totalMs: number;
  p50Ms: number;
  p99Ms: number;
  artifactsPerSecond: number;
}

export interface BatchInsertResult {
  benchmark: 'batch-insert';
  date: string;
  machine: { cpus: number; model: string; node: string };
  /** The writer `ReleaseRepository` uses. */
  defaultWriter: DependencyWriter;
  realistic: { artifacts: number; requirements: number; perArtifact: [number, number]; byWriter: Record<DependencyWriter, ShapeFigures> };
  requirements: number;
  /** Median milliseconds for the whole recordExtraction transaction with the product's writer. */
  batchMs: number;
  /** The same, per writer. */
  batchMsByWriter: Record<DependencyWriter, number>;
  /** Median milliseconds for one INSERT per row. */
  oneByOneMs: number;
  /** oneByOneMs / batchMs. */
  ratio: number;
  target: '>= 10';
  met: boolean;
  runs: { batch: Record<DependencyWriter, number[]>; oneByOne: number[] };
}

function requirements(n: number, tag = ''): DependencyInput[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `Dep_Project.${tag}${i}`,
    specifier: '>=1.0,<2',
    extras: i % 3 === 0 ? ['socks', 'fast'] : [],
    marker: i % 2 === 0 ? `python_version >= "3.8" and extra == "x${i % 7}"` : null,
    extra: i % 2 === 0 ? `x${i % 7}` : null,
    raw: `Dep_Project.${tag}${i}[socks,fast]>=1.0,<2; python_version >= "3.8" and extra == "x${i % 7}"`,
  }));
}

function extraction(artifactSha256: string, dependencies: DependencyInput[]): ExtractionInput {
  return {
    artifactSha256,
    project: 'bench',
    version: '1.0',
    requiresPython: '>=3.8',
    summary: 'A package for the benchmark',
    metadataVersion: '2.4',
    dependenciesKnown: true,
    providesExtra: [],
    dynamic: [],
    licenseExpression: null,
    dependencies,
  };
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

/** Requirement counts 5–50, the same every run (mulberry32). */
function shapeCounts(artifacts: number): number[] {
  let a = 20261201;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: artifacts }, () => 5 + Math.floor(next() * 46));
}

/** Runs the benchmark on a fresh database and returns its result. */
export async function runBatchInsertBench(options: { artifacts?: number; requirements?: number; batchRuns?: number; rowRuns?: number } = {}): Promise<BatchInsertResult> {
  const n = options.requirements ?? 10_000;
  const deps = requirements(n);
  const db = await createTestDatabase();
  const prisma = createPrismaClient({ databaseUrl: db.url, poolSize: 4 });
  try {
    await runMigrations({ databaseUrl: db.url });
    const repos = Object.fromEntries(WRITERS.map((w) => [w, releaseRepositoryWith(w, prisma, pypiProtocol)])) as Record<DependencyWriter, ReleaseRepository>;
    let k = 0;
    // Warm up connections, JIT and Prisma's query plans with each writer.
    for (const w of WRITERS) {
      for (let i = 0; i < 20; i++) await repos[w].recordExtraction(extraction(await newArtifact(prisma, `w${k++}`), deps.slice(0, 5 + i * 2)));
    }
    await repos[DEFAULT_WRITER].insertDependenciesOneByOne(await newArtifact(prisma, `w${k++}`), deps.slice(0, 100));

    const counts = shapeCounts(options.artifacts ?? 500);
    const latencies: Record<DependencyWriter, number[]> = { createMany: [], unnest: [] };
    for (const [i, count] of counts.entries()) {
      const order = i % 2 === 0 ? WRITERS : [...WRITERS].reverse();
      for (const w of order) {
        const sha = await newArtifact(prisma, `r${k++}`);
        latencies[w].push(await time(() => repos[w].recordExtraction(extraction(sha, requirements(count, `${i}.`)))));
      }
    }
    const shape = (ms: number[]): ShapeFigures => {
      const total = ms.reduce((a, b) => a + b, 0);
      return { totalMs: round(total), p50Ms: round(median(ms)), p99Ms: round(percentile(ms, 0.99)), artifactsPerSecond: round((1000 * ms.length) / total) };
    };

    const batch: Record<DependencyWriter, number[]> = { createMany: [], unnest: [] };
    for (let i = 0; i < (options.batchRuns ?? 5); i++) {
      for (const w of WRITERS) {
        const sha = await newArtifact(prisma, `b${k++}`);
        batch[w].push(await time(() => repos[w].recordExtraction(extraction(sha, deps))));
      }
    }
    const oneByOne: number[] = [];
    for (let i = 0; i < (options.rowRuns ?? 1); i++) {
      const sha = await newArtifact(prisma, `o${k++}`);
      oneByOne.push(await time(() => repos[DEFAULT_WRITER].insertDependenciesOneByOne(sha, deps)));
    }
    const batchMs = median(batch[DEFAULT_WRITER]);
    const oneByOneMs = median(oneByOne);
    const ratio = oneByOneMs / batchMs;
    const cpus = os.cpus();
    return {
      benchmark: 'batch-insert',
      date: new Date().toISOString(),
      machine: { cpus: cpus.length, model: cpus[0]?.model ?? 'unknown', node: process.version },
      defaultWriter: DEFAULT_WRITER,
      realistic: {
        artifacts: counts.length,
        requirements: counts.reduce((a, b) => a + b, 0),
        perArtifact: [5, 50],
        byWriter: { createMany: shape(latencies.createMany), unnest: shape(latencies.unnest) },
      },
      requirements: n,
      batchMs: round(batchMs),
      batchMsByWriter: { createMany: round(median(batch.createMany)), unnest: round(median(batch.unnest)) },
      oneByOneMs: round(oneByOneMs),
      ratio: round(ratio),
      target: '>= 10',
      met: ratio >= 10,
      runs: { batch: { createMany: batch.createMany.map(round), unnest: batch.unnest.map(round) }, oneByOne: oneByOne.map(round) },
    };
  } finally {
    await prisma.$disconnect();
    await db.drop();
  }
}

const round = (x: number) => Math.round(x * 10) / 10;

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runBatchInsertBench({
    artifacts: Number(process.env.BENCH_ARTIFACTS ?? 500),
    requirements: Number(process.env.BENCH_REQUIREMENTS ?? 10_000),
    batchRuns: Number(process.env.BENCH_BATCH_RUNS ?? 5),
    rowRuns: Number(process.env.BENCH_ROW_RUNS ?? 1),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
