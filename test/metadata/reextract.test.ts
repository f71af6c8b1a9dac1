/**
 * `npm run reextract` (scripts/reextract.ts) as a real process, against real PostgreSQL, storage and
 * a real BullMQ extract worker: every stored artifact is re-extracted through the queue, progress is
 * shown, and a second run works although jobs with the artifacts' own ids are still retained.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Producers, createProducerRedis, createWorker, createWorkerRedis } from '../../libs/queue/index.js';
import { buildSdist, sha256Hex } from '../support/dists.js';
import { generateCorpus, type CorpusFile } from './corpus.js';
import { createExtractionHarness, REDIS_URL, storedDependencies, type ExtractionHarness } from './harness.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

let h: ExtractionHarness;
let corpus: CorpusFile[];
let worker: Worker;
let producers: Producers;
const connections: Array<{ disconnect(): void }> = [];

function runReextract(args: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'reextract.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: h.db.url, REDIS_URL, ORCHARD_QUEUE_PREFIX: h.prefix, ORCHARD_LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  h = await createExtractionHarness();
  corpus = await generateCorpus({ seed: 99, wheels: 25, sdists: 15, maxRequirements: 8 });
  const workerRedis = createWorkerRedis(REDIS_URL);
  const producerRedis = createProducerRedis(REDIS_URL);
  connections.push(workerRedis, producerRedis);
  producers = new Producers(producerRedis, h.prefix, h.logger);
  worker = createWorker('extract', (payload) => h.extract(payload), { connection: workerRedis, prefix: h.prefix, concurrency: 2, logger: h.logger });
  void worker.run();
  // The normal path first: extract jobs whose id is the sha256, completed and retained by BullMQ.
  const jobs = [];
  for (const file of corpus) jobs.push(await producers.addExtract(await h.storeArtifact(file)));
  const bz = await buildSdist({ name: 'bzpkg', version: '1.0' });
  jobs.push(await producers.addExtract(await h.storeArtifact({ ...bz, filename: 'bzpkg-1.0.tar.bz2', project: 'bzpkg' })));
  const broken = Buffer.from('definitely not a wheel');
  jobs.push(await producers.addExtract(await h.storeArtifact({ filename: 'broken-1.0-py3-none-any.whl', project: 'broken', bytes: broken, sha256: sha256Hex(broken) })));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const counts = await producers.extract.getJobCounts('completed', 'failed');
    if ((counts.completed ?? 0) + (counts.failed ?? 0) >= jobs.length) break;
    if (Date.now() > deadline) throw new Error('initial extraction did not finish');
    await new Promise((r) => setTimeout(r, 100));
  }
});

afterAll(async () => {
  await worker?.close();
  await producers?.extract.obliterate({ force: true }).catch(() => {});
  await producers?.close();
  for (const c of connections) c.disconnect();
  await h?.close();
});

describe('npm run reextract', () => {
  it('re-extracts every stored artifact through the queue, showing progress, and restores lost facts', async () => {
    // Simulate an older parser's results: dependency rows lost, releases marked failed.
    await h.prisma.artifactDependency.deleteMany();
    await h.prisma.release.updateMany({ data: { metadataStatus: 'failed', metadataError: 'old parser' } });

    const run = await runReextract();
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/reextract \w+: .*\d+\/42 done \(ok \d+, unsupported \d+, failed \d+\)/);
    expect(run.stdout).toMatch(new RegExp(`42 artifacts re-extracted in [\\d.]+s: ok ${corpus.length}, unsupported 1, failed 1\\n`));
    expect(run.stdout).toMatch(/failed [0-9a-f]{64}: broken-1\.0-py3-none-any\.whl: not a zip file/);

    for (const file of corpus) expect(await storedDependencies(h.prisma, file.sha256), file.filename).toEqual(file.dependencies);
    expect(await h.releases.statusCounts()).toEqual({ ok: corpus.length, unsupported: 1, failed: 1 });
  });

  it('runs again (distinct job ids per run) and can report as JSON', async () => {
    const run = await runReextract(['--json', '--batch-size=7']);
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout) as { total: number; done: number; ok: number; unsupported: number; failed: number; enqueued: number };
    expect(summary).toMatchObject({ total: 42, enqueued: 42, done: 42, ok: corpus.length, unsupported: 1, failed: 1 });
    const ids = (await producers.extract.getJobs(['completed', 'failed'], 0, 1000)).map((j) => j.id!);
    expect(ids.filter((id) => /^[0-9a-f]{64}$/.test(id))).toHaveLength(42);
    expect(new Set(ids.filter((id) => /-r\w+$/.test(id)).map((id) => id.split('-r')[1])).size).toBe(2);
  });

  it('refuses unknown arguments', async () => {
    const run = await runReextract(['--bogus']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/usage: reextract/);
  });
});
