/**
 * Extraction rate: artifacts per second through the real extract handler (storage reads, parsing,
 * the METADATA file write, the PostgreSQL transaction) on the generated corpus of wheels and sdists
 * (test/metadata/corpus.ts), against a local-directory store, the local PostgreSQL and Redis.
 *
 * Three figures, each after a warm-up and each from no extracted facts (first extractions):
 * - `sequential`: one job at a time (the cost of one extraction);
 * - `concurrent`: the handler at the extractor's default concurrency (4) in one process;
 * - `queue`: a real BullMQ worker (concurrency 4) draining the corpus enqueued up front: what one
 *   extractor process sustains during a backfill, queue round trips included.
 * Each is measured with both of the repository's dependency writers (`byWriter`: the raw `unnest`
 * insert Orchard used before, as the baseline, and Prisma `createMany`, the product's), one after the other on the same corpus; the
 * top-level figures are the product writer's.
 *
 *   npx tsx bench/extraction.ts      prints a JSON result
 *
 * Environment: BENCH_WHEELS (300), BENCH_SDISTS (200), BENCH_CONCURRENCY (4),
 * BENCH_MAX_REQUIREMENTS (50: each file declares 0–50 requirements, sdists of metadata 1.0 none).
 */
import os from 'node:os';
import { QueueEvents } from 'bullmq';
import { ArtifactCache, CacheKeys, createCacheRedis } from '../libs/cache/index.js';
import { PRODUCT_WRITER, releaseRepositoryWith, type DependencyWriter } from './lib/raw-sql-dependencies.js';
import { registeredProtocols } from '../libs/protocol/index.js';
import { pypiProtocol } from '../libs/protocol/pypi/index.js';
import { createProducerRedis, createWorker, createWorkerRedis, Producers, queues, type ExtractJob } from '../libs/queue/index.js';
import { createExtractHandler, type ExtractOutcome } from '../services/extractor/extract-artifact.js';
import { generateCorpus } from '../test/metadata/corpus.js';
import { createExtractionHarness, REDIS_URL, type ExtractionHarness } from '../test/metadata/harness.js';
import { percentile } from './lib/stats.js';

type Extract = (job: ExtractJob) => Promise<ExtractOutcome>;
const WRITERS: DependencyWriter[] = ['createMany', 'unnest'];

export interface ExtractionRate {
  artifacts: number;
  seconds: number;
  artifactsPerSecond: number;
}

export interface ExtractionResult {
  benchmark: 'extraction';
  date: string;
  machine: { cpus: number; model: string; node: string };
  corpus: { wheels: number; sdists: number; requirements: number; maxRequirements: number; bytes: number };
  concurrency: number;
  defaultWriter: DependencyWriter;
  sequential: SequentialRate;
  concurrent: ExtractionRate;
  queue: ExtractionRate;
  byWriter: Record<DependencyWriter, { sequential: SequentialRate; concurrent: ExtractionRate; queue: ExtractionRate }>;
}

type SequentialRate = ExtractionRate & { wheelsPerSecond: number; sdistsPerSecond: number; p50Ms: number; p99Ms: number };

async function rate(jobs: ExtractJob[], concurrency: number, run: (job: ExtractJob) => Promise<unknown>): Promise<ExtractionRate & { latencies: number[]; order: string[] }> {
  const latencies: number[] = [];
  const order: string[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < jobs.length) {
        const job = jobs[next++]!;
        const t = performance.now();
        await run(job);
        latencies.push(performance.now() - t);
        order.push(job.sha256);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { artifacts: jobs.length, seconds: round(seconds), artifactsPerSecond: round(jobs.length / seconds), latencies, order };
}

async function queueRate(h: ExtractionHarness, extract: Extract, jobs: ExtractJob[], concurrency: number, tag: string): Promise<ExtractionRate> {
  const prefix = `${h.prefix}-bench-${tag}`;
  const workerRedis = createWorkerRedis(REDIS_URL);
  const producerRedis = createProducerRedis(REDIS_URL);
  const eventsRedis = createWorkerRedis(REDIS_URL);
  const producers = new Producers(producerRedis, prefix, h.logger);
  const events = new QueueEvents(queues.extract.name, { connection: eventsRedis, prefix });
  const worker = createWorker('extract', (payload) => extract(payload), { connection: workerRedis, prefix, concurrency, logger: h.logger });
  try {
    await events.waitUntilReady();
    let done = 0;
    const finished = new Promise<void>((resolve) => {
      const count = () => {
        done += 1;
        if (done === jobs.length) resolve();
      };
      events.on('completed', count);
      events.on('failed', count);
    });
    await producers.extract.addBulk(jobs.map((data) => ({ name: queues.extract.name, data, opts: { jobId: `${data.sha256}-bench` } })));
    const started = performance.now();
    void worker.run();
    await finished;
    const seconds = (performance.now() - started) / 1000;
    return { artifacts: jobs.length, seconds: round(seconds), artifactsPerSecond: round(jobs.length / seconds) };
  } finally {
    await worker.close();
    await events.close();
    await producers.extract.obliterate({ force: true }).catch(() => {});
    await producers.close();
    workerRedis.disconnect();
    producerRedis.disconnect();
    eventsRedis.disconnect();
  }
}

/**
 * The extract handler as the harness builds it, but writing through a repository with `writer`:
 * the harness's own handler always uses the product's writer.
 */
function handlerWith(h: ExtractionHarness, writer: DependencyWriter, redis: ReturnType<typeof createCacheRedis>): Extract {
  return createExtractHandler({
    protocols: registeredProtocols(),
    store: h.store,
    releases: () => releaseRepositoryWith(writer, h.prisma, pypiProtocol),
    artifactCache: new ArtifactCache(redis, new CacheKeys(h.prefix)),
    logger: h.logger,
  });
}

/** Runs the benchmark on a fresh database and store and returns its result. */
export async function runExtractionBench(options: { wheels?: number; sdists?: number; concurrency?: number; maxRequirements?: number } = {}): Promise<ExtractionResult> {
  const concurrency = options.concurrency ?? 4;
  const maxRequirements = options.maxRequirements ?? 50;
  const corpus = await generateCorpus({ seed: 42, wheels: options.wheels ?? 300, sdists: options.sdists ?? 200, maxRequirements });
  const h = await createExtractionHarness({ poolSize: concurrency + 2 });
  const redis = createCacheRedis(REDIS_URL);
  try {
    const jobs: ExtractJob[] = [];
    for (const file of corpus) jobs.push(await h.storeArtifact(file));
    const isWheel = new Set(corpus.filter((f) => f.kind === 'wheel').map((f) => f.sha256));
    const wheels = jobs.filter((j) => isWheel.has(j.sha256));
    const sdists = jobs.filter((j) => !isWheel.has(j.sha256));

    // Each pass starts from no extracted facts, so every pass measures first extractions.
    const reset = async () => {
      await h.prisma.artifactDependency.deleteMany();
      await h.prisma.release.deleteMany();
      await h.prisma.artifact.updateMany({ data: { metadataSha256: null } });
    };
    const handlers = Object.fromEntries(WRITERS.map((w) => [w, handlerWith(h, w, redis)])) as Record<DependencyWriter, Extract>;
    for (const w of WRITERS) await rate(jobs.slice(0, 50), 1, handlers[w]); // warm-up: connections, JIT, query plans
    const perKind = (pass: Awaited<ReturnType<typeof rate>>, kind: ExtractJob[]) => {
      const ids = new Set(kind.map((j) => j.sha256));
      const ms = pass.latencies.filter((_, i) => ids.has(pass.order[i]!));
      return round((1000 * ms.length) / ms.reduce((a, b) => a + b, 0));
    };
    const sequentialFigures = (pass: Awaited<ReturnType<typeof rate>>): SequentialRate => {
      return {
        artifacts: pass.artifacts,
        seconds: pass.seconds,
        artifactsPerSecond: pass.artifactsPerSecond,
        // From the same pass: 1 / mean latency of each kind.
        wheelsPerSecond: perKind(pass, wheels),
        sdistsPerSecond: perKind(pass, sdists),
        p50Ms: round(percentile(pass.latencies, 0.5)),
        p99Ms: round(percentile(pass.latencies, 0.99)),
      };
    };
    const plain = ({ artifacts, seconds, artifactsPerSecond }: ExtractionRate): ExtractionRate => ({ artifacts, seconds, artifactsPerSecond });
    // Mode by mode, each writer in turn, so that drift in the machine's load hits both alike.
    const sequential = {} as Record<DependencyWriter, SequentialRate>;
    const concurrent = {} as Record<DependencyWriter, ExtractionRate>;
    const queue = {} as Record<DependencyWriter, ExtractionRate>;
    for (const w of WRITERS) {
      await reset();
      sequential[w] = sequentialFigures(await rate(jobs, 1, handlers[w]));
    }
    for (const w of WRITERS) {
      await reset();
      concurrent[w] = plain(await rate(jobs, concurrency, handlers[w]));
    }
    for (const w of WRITERS) {
      await reset();
      queue[w] = await queueRate(h, handlers[w], jobs, concurrency, w);
    }
    const byWriter = Object.fromEntries(WRITERS.map((w) => [w, { sequential: sequential[w], concurrent: concurrent[w], queue: queue[w] }])) as ExtractionResult['byWriter'];
    const cpus = os.cpus();
    return {
      benchmark: 'extraction',
      date: new Date().toISOString(),
      machine: { cpus: cpus.length, model: cpus[0]?.model ?? 'unknown', node: process.version },
      corpus: {
        wheels: wheels.length,
        sdists: sdists.length,
        requirements: corpus.reduce((n, f) => n + f.dependencies.length, 0),
        maxRequirements,
        bytes: corpus.reduce((n, f) => n + f.bytes.length, 0),
      },
      concurrency,
      defaultWriter: PRODUCT_WRITER,
      ...byWriter[PRODUCT_WRITER],
      byWriter,
    };
  } finally {
    redis.disconnect();
    await h.close();
  }
}

const round = (x: number) => Math.round(x * 10) / 10;

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await runExtractionBench({
    wheels: Number(process.env.BENCH_WHEELS ?? 300),
    sdists: Number(process.env.BENCH_SDISTS ?? 200),
    concurrency: Number(process.env.BENCH_CONCURRENCY ?? 4),
    maxRequirements: Number(process.env.BENCH_MAX_REQUIREMENTS ?? 50),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
