import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Queue, type Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../test/support/redis.js';
import { createLogger } from '../log/index.js';
import { createMetrics } from '../metrics/index.js';
import { createProducerRedis } from './connections.js';
import { QUEUE_STATES, jobMetricsHooks, readQueueDepthAtScrape } from './metrics.js';
import { Producers } from './producers.js';

const logger = createLogger('test', 'silent', new Writable({ write: (_c, _e, done) => done() }));

async function gauge(metrics: ReturnType<typeof createMetrics>) {
  const { values } = await metrics.queueJobs.get();
  return Object.fromEntries(values.map((v) => [`${v.labels.queue}/${v.labels.state}`, v.value]));
}

describe('readQueueDepthAtScrape', () => {
  let producers: Producers;
  let redis: ReturnType<typeof createProducerRedis>;

  beforeAll(async () => {
    redis = createProducerRedis(await testRedisUrl());
    await new Promise((resolve) => redis.once('ready', resolve));
    producers = new Producers(redis, `test-depth-${randomBytes(4).toString('hex')}`, logger);
  });
  afterAll(async () => {
    await producers.close();
    redis.disconnect();
  });

  it('reads every state of every queue into orchard_queue_jobs at scrape time', async () => {
    const metrics = createMetrics('gateway');
    await producers.addFetch({ protocol: 'pypi', sha256: 'a'.repeat(64), project: 'p', filename: 'p.whl', url: 'https://x.example/p.whl', upstream: 'u' });
    await producers.addFetch({ protocol: 'pypi', sha256: 'b'.repeat(64), project: 'p', filename: 'p.whl', url: 'https://x.example/p.whl', upstream: 'u' });
    await producers.extract.add('extract', { protocol: 'pypi', sha256: 'c'.repeat(64), project: 'p', filename: 'p.whl' }, { delay: 60_000 });
    readQueueDepthAtScrape(metrics, [producers.fetch, producers.extract], logger);
    const values = await gauge(metrics);
    expect(Object.keys(values)).toHaveLength(2 * QUEUE_STATES.length);
    expect(values).toMatchObject({ 'fetch/waiting': 2, 'fetch/active': 0, 'extract/delayed': 1, 'extract/waiting': 0 });
  });

  it('empties the gauge instead of keeping old counts when Redis does not answer, and the scrape still renders', async () => {
    const metrics = createMetrics('gateway');
    metrics.queueJobs.set({ queue: 'fetch', state: 'waiting' }, 7);
    metrics.jobs.inc({ queue: 'fetch', outcome: 'completed' });
    const dead = createProducerRedis('redis://127.0.0.1:1/0');
    const queue = new Queue('fetch', { connection: dead, prefix: 'nowhere' });
    queue.on('error', () => {});
    const lines: string[] = [];
    const capture = createLogger(
      'test',
      'debug',
      new Writable({ write: (chunk: Buffer, _e, done) => (lines.push((JSON.parse(chunk.toString()) as { msg: string }).msg), done()) }),
    );
    readQueueDepthAtScrape(metrics, [queue], capture, 500);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^orchard_jobs_total\{queue="fetch",outcome="completed",service="gateway"\} 1$/m);
    expect(text).not.toMatch(/^orchard_queue_jobs\{/m);
    expect(lines).toEqual(['queue depth not read for this scrape']);
    expect(await gauge(metrics)).toEqual({});
    await queue.close().catch(() => {});
    dead.disconnect();
  });
});

describe('jobMetricsHooks', () => {
  it('counts outcomes and observes durations by queue and outcome', async () => {
    const metrics = createMetrics('extractor');
    const hooks = jobMetricsHooks(metrics, logger);
    hooks.onCompleted!('extract', {} as Job, 0.2);
    hooks.onFailed!('extract', { processedOn: Date.now() - 1_000, finishedOn: Date.now() } as Job, new Error('x'), true);
    hooks.onFailed!('extract', { processedOn: Date.now() - 500 } as Job, new Error('y'), false);
    const jobs = (await metrics.jobs.get()).values.map((v) => [v.labels.outcome, v.value]);
    expect(Object.fromEntries(jobs)).toEqual({ completed: 1, failed: 1, retried: 1 });
    const counts = (await metrics.jobDuration.get()).values.filter((v) => v.metricName === 'orchard_job_duration_seconds_count');
    expect(Object.fromEntries(counts.map((v) => [v.labels.outcome, v.value]))).toEqual({ completed: 1, failed: 1, retried: 1 });
    const sums = (await metrics.jobDuration.get()).values.filter((v) => v.metricName === 'orchard_job_duration_seconds_sum');
    expect(sums.find((v) => v.labels.outcome === 'failed')!.value).toBeCloseTo(1, 1);
  });
});
