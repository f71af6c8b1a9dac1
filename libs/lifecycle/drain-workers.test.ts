import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Writable } from 'node:stream';
import type { RedisClient } from '../redis/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../test/support/redis.js';
import { createLogger } from '../log/index.js';
import { createMetrics } from '../metrics/index.js';
import type { QueueEvents, Worker } from 'bullmq';
import { Producers, createProducerRedis, createQueueEvents, createWorker, createWorkerRedis, fetchJobId, jobMetricsHooks, type FetchJob } from '../queue/index.js';
import { drainGraceMs, drainWorkers, runWorker } from './drain-workers.js';
import { JobHandback } from './job-handback.js';

const logger = createLogger('test', 'silent', new Writable({ write: (_c, _e, done) => done() }));

function fetchJob(n: number): FetchJob {
  const sha256 = randomBytes(32).toString('hex');
  return { protocol: 'pypi', sha256, project: 'p', filename: `p-${n}.whl`, url: 'https://files.example/p.whl', upstream: 'u' };
}

/** Resolves when `signal` aborts, or after `ms` (a download that takes that long). */
function work(ms: number, signal: AbortSignal): Promise<{ done: true }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve({ done: true }), ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    });
  });
}

describe('drainWorkers with a JobHandback', () => {
  let url: string;
  const connections: RedisClient[] = [];
  let producers: Producers;
  let prefix: string;

  beforeAll(async () => {
    url = await testRedisUrl();
    prefix = `test-drain-${randomBytes(4).toString('hex')}`;
    const producerRedis = createProducerRedis(url);
    connections.push(producerRedis);
    await new Promise((resolve) => producerRedis.once('ready', resolve));
    producers = new Producers(producerRedis, prefix, logger);
  });

  afterAll(async () => {
    await producers.close();
    for (const c of connections) c.disconnect();
  });

  function worker(handler: (job: FetchJob, signal: AbortSignal) => Promise<unknown>, handback?: JobHandback) {
    const metrics = createMetrics('fetcher');
    const connection = createWorkerRedis(url);
    connections.push(connection);
    const wrapped = (handback ?? new JobHandback({ logger, metrics })).wrap('fetch', (payload: FetchJob, _job, signal) => handler(payload, signal));
    const w = createWorker('fetch', wrapped, { connection, prefix, concurrency: 2, hooks: jobMetricsHooks(metrics, logger), logger });
    void w.run();
    return { worker: w, metrics };
  }

  async function whenActive(id: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if ((await producers.fetch.getJobState(id)) === 'active') return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`job ${id} never became active`);
  }

  it('lets a job that finishes within the grace period complete', async () => {
    const job = fetchJob(1);
    const { worker: w, metrics } = worker((_p, signal) => work(300, signal));
    await producers.addFetch(job);
    await whenActive(fetchJobId(job));
    const started = Date.now();
    await drainWorkers([w], { graceMs: 5_000, handback: undefined, logger });
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(await producers.fetch.getJobState(fetchJobId(job))).toBe('completed');
    expect((await metrics.jobs.get()).values).toEqual([expect.objectContaining({ labels: { queue: 'fetch', outcome: 'completed' }, value: 1 })]);
    // The job says which host and process ran it.
    expect((await producers.fetch.getJob(fetchJobId(job)))?.processedBy).toBe(`${hostname()}:${process.pid}`);
  });

  it('hands a job still running after the grace period back to waiting, attempt not counted, and another worker completes it', async () => {
    const job = fetchJob(2);
    const metrics = createMetrics('fetcher');
    const handback = new JobHandback({ logger, metrics });
    const first = worker((_p, signal) => work(60_000, signal), handback);
    await producers.addFetch(job);
    await whenActive(fetchJobId(job));
    const started = Date.now();
    await drainWorkers([first.worker], { graceMs: 200, handback, logger });
    expect(Date.now() - started).toBeLessThan(3_000);
    const back = await producers.fetch.getJob(fetchJobId(job));
    expect(await back!.getState()).toBe('waiting');
    expect(back!.attemptsMade).toBe(0);
    expect(back!.failedReason ?? '').toBe('');
    expect((await metrics.jobs.get()).values).toEqual([expect.objectContaining({ labels: { queue: 'fetch', outcome: 'handed_back' }, value: 1 })]);

    // Listen before the second worker starts, so its completion cannot slip past unseen.
    const events = await eventsFor();
    const second = worker(async () => ({ done: true }));
    expect(await back!.waitUntilFinished(events, 30_000)).toEqual({ done: true });
    await second.worker.close();
  });

  it('without a handback, waits for the job to finish even after the grace period', async () => {
    const job = fetchJob(3);
    const { worker: w } = worker((_p, signal) => work(600, signal));
    await producers.addFetch(job);
    await whenActive(fetchJobId(job));
    await drainWorkers([w], { graceMs: 50, logger });
    expect(await producers.fetch.getJobState(fetchJobId(job))).toBe('completed');
  });

  let events: QueueEvents | undefined;
  async function eventsFor(): Promise<QueueEvents> {
    if (!events) {
      const connection = createWorkerRedis(url);
      connections.push(connection);
      events = createQueueEvents('fetch', connection, prefix, logger);
      await events.waitUntilReady();
    }
    return events;
  }
  afterAll(async () => {
    await events?.close();
  });
});

describe('drainGraceMs', () => {
  it('leaves at most 5 s and at least 40 % of the shutdown timeout for handing back and closing', () => {
    expect(drainGraceMs(25_000)).toBe(20_000);
    expect(drainGraceMs(10_000)).toBe(6_000);
    expect(drainGraceMs(3_000)).toBe(1_800);
    expect(drainGraceMs(0)).toBe(0);
  });
});

function capturingLogger(level = 'debug') {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write: (c: Buffer, _e, done) => (lines.push(JSON.parse(c.toString()) as Record<string, unknown>), done()) });
  return { logger: createLogger('test', level, stream), lines };
}

describe('drainWorkers and runWorker, failures', () => {
  it('closes every worker and logs the one that did not close cleanly', async () => {
    const { logger: log, lines } = capturingLogger();
    const closed: string[] = [];
    const fake = (name: string, fail: boolean) =>
      ({
        name,
        close: async () => {
          closed.push(name);
          if (fail) throw new Error('connection lost');
        },
      }) as unknown as Worker;
    await drainWorkers([fake('fetch', true), fake('refresh', false)], { graceMs: 1_000, logger: log });
    expect(closed).toEqual(['fetch', 'refresh']);
    expect(lines).toEqual([expect.objectContaining({ level: 40, queue: 'fetch', err: 'connection lost', msg: 'worker did not close cleanly' })]);
  });

  it('logs a worker loop that stops with an error at fatal, and still rejects', async () => {
    const { logger: log, lines } = capturingLogger();
    const broken = { name: 'extract', run: () => Promise.reject(new Error('Worker is already running.')) };
    await expect(runWorker(broken, log)).rejects.toThrow('Worker is already running.');
    expect(lines).toEqual([expect.objectContaining({ level: 60, queue: 'extract', err: 'Worker is already running.', msg: 'worker stopped with an error' })]);
  });
});
