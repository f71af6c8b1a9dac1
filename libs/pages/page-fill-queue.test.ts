import { randomBytes } from 'node:crypto';
import type { QueueEvents, Worker } from 'bullmq';
import type { RedisClient } from '../redis/index.js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../test/support/redis.js';
import { FakeUpstream } from '../../test/support/upstream-server.js';
import { CacheKeys, RootIndexCache, createCacheRedis, waitForRedis } from '../cache/index.js';
import { loadSettings } from '../config/index.js';
import { UpstreamClient, UpstreamError } from '../http/index.js';
import { createLogger } from '../log/index.js';
import { createMetrics } from '../metrics/index.js';
import { pypiProtocol } from '../protocol/pypi/index.js';
import { Producers, createProducerRedis, createQueueEvents, createWorkerRedis, queues } from '../queue/index.js';
import { waitFor } from '../../test/support/wait.js';
import { createProjectPages } from './create-project-pages.js';
import { PageFillQueue } from './page-fill-queue.js';
import { RootPages } from './root-pages.js';

const logger = createLogger('gateway', 'silent');

/**
 * Page fills shared through `pages` jobs (real Redis, fake upstream): two "replicas" (each its own
 * pipeline, producers and queue events, as two gateway processes have) share one upstream request;
 * a failure reaches every caller with its kind; a job no worker runs still answers within the bound.
 */
describe('PageFillQueue', () => {
  const upstream = new FakeUpstream();
  let url: string;
  let cache: RedisClient;
  let prefix: string;
  const closers: (() => Promise<unknown> | void)[] = [];

  /** One gateway process: its pipeline (project pages and root list) on the shared queue; `worker: false` runs none. */
  function replica(options: { worker?: boolean; pickupMs?: number; readTimeoutMs?: number; queueUrl?: string; generation?: string; noUpstreams?: boolean } = {}) {
    const settings = loadSettings({ ORCHARD_UPSTREAMS: `local=${upstream.url}`, ORCHARD_CACHE_PREFIX: prefix });
    const http = new UpstreamClient({ ...settings.upstreamHttp, readTimeoutMs: options.readTimeoutMs ?? 5_000 });
    const producerRedis = createProducerRedis(options.queueUrl ?? url);
    const workerRedis = createWorkerRedis(options.queueUrl ?? url);
    const producers = new Producers(producerRedis, prefix, logger);
    const events: QueueEvents = createQueueEvents('pages', workerRedis, prefix, logger);
    const fills = new PageFillQueue({ producers, events, logger, ...(options.pickupMs !== undefined ? { pickupMs: options.pickupMs } : {}) });
    const metrics = createMetrics('gateway');
    const upstreams = async () => (options.noUpstreams ? [] : settings.upstreams);
    const generation = options.generation !== undefined ? () => options.generation! : undefined;
    const pages = createProjectPages({ settings, protocol: pypiProtocol, prefix: '', redis: cache, http, upstreams, generation, fills, metrics, logger });
    const root = new RootPages({
      protocol: pypiProtocol,
      cache: new RootIndexCache(cache, new CacheKeys(prefix), 'pypi'),
      http,
      upstreams,
      ttlSeconds: 3600,
      staleTtlSeconds: 3600,
      fills,
      metrics,
      logger,
    });
    let worker: Worker | undefined;
    if (options.worker !== false) worker = fills.startWorker({ connection: workerRedis, prefix, stalledIntervalMs: 2_000 });
    closers.push(async () => {
      if (options.queueUrl) {
        producerRedis.disconnect();
        workerRedis.disconnect();
      }
      await worker?.close();
      await events.close();
      await producers.close();
      await http.close();
      producerRedis.disconnect();
      workerRedis.disconnect();
    });
    return { pages, root, producers, ready: () => Promise.all([events.waitUntilReady(), worker?.waitUntilReady()]) };
  }

  beforeAll(async () => {
    upstream.publish('shared-lib', { filename: 'shared_lib-1.0-py3-none-any.whl', bytes: Buffer.from('shared') });
    upstream.publish('lonely-lib', { filename: 'lonely_lib-1.0-py3-none-any.whl', bytes: Buffer.from('lonely') });
    await upstream.start();
    url = await testRedisUrl();
    cache = createCacheRedis(url);
    expect(await waitForRedis(cache)).toBe(true);
  });

  beforeEach(() => {
    prefix = `test-fills-${randomBytes(5).toString('hex')}`;
    upstream.requests.length = 0;
    upstream.mode = 'ok';
  });

  afterEach(async () => {
    // Bounded: closing what never connected (an unreachable queue Redis) does not finish by itself.
    for (const close of closers.splice(0)) await Promise.race([close(), new Promise((resolve) => setTimeout(resolve, 1_000))]);
    const keys = await cache.keys(`${prefix}:*`);
    if (keys.length > 0) await cache.del(...keys);
  });

  afterAll(async () => {
    cache?.disconnect();
    await upstream.stop();
  });

  it('leaves a fill to its caller when the worker is on another upstream configuration (an admin change still spreading)', async () => {
    // The worker's (older) configuration has no upstream at all: a fill there would find nothing.
    const caller = replica({ worker: false, generation: 'new' });
    const stale = replica({ generation: 'old', noUpstreams: true });
    await Promise.all([caller.ready(), stale.ready()]);
    const answer = await caller.pages.serve('shared-lib', 'json');
    expect(answer.status).toBe('page');
    expect(upstream.requests.filter((r) => r.path === '/simple/shared-lib/')).toHaveLength(1);
  });

  it('concurrent misses on two replicas share one upstream request and one page', async () => {
    const a = replica();
    const b = replica({ worker: false });
    await Promise.all([a.ready(), b.ready()]);
    upstream.mode = 'slow';
    upstream.slowMs = 300;
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? b : a).pages.serve('shared-lib', i % 4 < 2 ? 'html' : 'json')));
    expect(upstream.requestsFor('/simple/shared-lib/')).toHaveLength(1);
    for (const answer of answers) expect(answer).toMatchObject({ status: 'page', cache: 'miss' });
    expect(new Set(answers.map((answer) => answer.status === 'page' && answer.meta.etag)).size).toBe(1);
  });

  it('a failure is shared with its kind: every caller of both replicas gets the timeout, the upstream is asked once', async () => {
    const a = replica({ readTimeoutMs: 200 });
    const b = replica({ readTimeoutMs: 200 });
    await Promise.all([a.ready(), b.ready()]);
    upstream.mode = 'slow';
    upstream.slowMs = 1_000;
    const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? b : a).pages.serve('shared-lib', 'html').catch((err: unknown) => err)));
    expect(upstream.requestsFor('/simple/shared-lib/')).toHaveLength(1);
    for (const outcome of outcomes) {
      expect(outcome).toBeInstanceOf(UpstreamError);
      expect((outcome as UpstreamError).failure).toBe('timeout');
    }
    // Failures are not kept: the next caller asks again.
    upstream.mode = 'ok';
    expect(await a.pages.serve('shared-lib', 'html')).toMatchObject({ status: 'page', cache: 'miss' });
  });

  it('a missing project stays missing for every waiter', async () => {
    const a = replica();
    const b = replica();
    await Promise.all([a.ready(), b.ready()]);
    const answers = await Promise.all([a.pages.serve('no-such-lib', 'html'), b.pages.serve('no-such-lib', 'html')]);
    expect(answers).toEqual([expect.objectContaining({ status: 'missing' }), expect.objectContaining({ status: 'missing' })]);
    expect(upstream.requestsFor('/simple/no-such-lib/')).toHaveLength(1);
  });

  it('a fill no worker runs (none started, or the queue paused) still answers within the pickup bound', async () => {
    const alone = replica({ worker: false, pickupMs: 300 });
    await alone.ready();
    let started = Date.now();
    expect(await alone.pages.serve('lonely-lib', 'html')).toMatchObject({ status: 'page', cache: 'miss' });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(upstream.requestsFor('/simple/lonely-lib/')).toHaveLength(1);
    expect(await alone.producers.pages.getJobCounts('waiting')).toEqual({ waiting: 0 });

    const paused = replica({ pickupMs: 300 });
    await paused.ready();
    await paused.producers.pages.pause();
    started = Date.now();
    const root = await paused.root.serve('json');
    expect(root.kind === 'cached' && root.cache).toBe('miss');
    expect(Date.now() - started).toBeLessThan(2_000);
    // The job nobody took is gone, not left to pile up in a queue no worker serves.
    expect(await paused.producers.pages.getJobCounts('waiting', 'active')).toEqual({ waiting: 0, active: 0 });
    await paused.producers.pages.resume();
  });

  it('fills without sharing, at once, while the queue Redis is unreachable', async () => {
    const down = replica({ worker: false, queueUrl: 'redis://127.0.0.1:1/0', pickupMs: 300 });
    const started = Date.now();
    expect(await down.pages.serve('lonely-lib', 'json')).toMatchObject({ status: 'page', cache: 'miss' });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(upstream.requestsFor('/simple/lonely-lib/')).toHaveLength(1);
  });

  it('a caller in the process whose worker ran its fill gets what was built there; a caller elsewhere gets the meta only', async () => {
    // The fill is held until both callers are waiting on it: one finished (and removed) before the
    // other's add would make that other add a fresh job, not join this one.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    /** A bare fill queue whose handlers answer, once the gate opens, with a meta and an in-memory result. */
    const bare = (withWorker: boolean) => {
      const producerRedis = createProducerRedis(url);
      const workerRedis = createWorkerRedis(url);
      const producers = new Producers(producerRedis, prefix, logger);
      const events = createQueueEvents('pages', workerRedis, prefix, logger);
      const fills = new PageFillQueue({ producers, events, logger });
      fills.serve('project', 'pypi', async (job) => {
        await gate;
        return { result: { ok: true, meta: { project: job.project } }, built: { bodies: 'in memory' } };
      });
      fills.serve('root', 'pypi', async () => ({ result: { ok: true, meta: {} } }));
      const worker = withWorker ? fills.startWorker({ connection: workerRedis, prefix }) : undefined;
      closers.push(async () => {
        await worker?.close();
        await events.close();
        await producers.close();
        producerRedis.disconnect();
        workerRedis.disconnect();
      });
      return { fills, producers, ready: () => Promise.all([events.waitUntilReady(), worker?.waitUntilReady()]) };
    };
    const runner = bare(true);
    const elsewhere = bare(false);
    await Promise.all([runner.ready(), elsewhere.ready()]);
    const job = { kind: 'project', protocol: 'pypi', project: 'built-lib', seen: 0, revalidate: false } as const;
    const both = Promise.all([runner.fills.run(job, 10_000), elsewhere.fills.run(job, 10_000)]);
    const id = queues.pages.jobId(job);
    await waitFor('the fill running, joined by both callers', async () => {
      const running = await runner.producers.pages.getJob(id);
      return running && (await running.getState()) === 'active' ? true : undefined;
    });
    open();
    const [here, there] = await both;
    expect(here).toEqual({ meta: { project: 'built-lib' }, built: { bodies: 'in memory' } });
    expect(there).toEqual({ meta: { project: 'built-lib' } });
  });

  it('the root list: concurrent misses on two replicas share one fill', async () => {
    const a = replica();
    const b = replica({ worker: false });
    await Promise.all([a.ready(), b.ready()]);
    upstream.mode = 'slow';
    upstream.slowMs = 300;
    const answers = await Promise.all([a.root.serve('html'), b.root.serve('json'), b.root.serve('html.gz'), a.root.serve('json')]);
    expect(upstream.requestsFor('/simple/')).toHaveLength(1);
    expect(new Set(answers.map((answer) => answer.kind === 'cached' && answer.meta.generation)).size).toBe(1);
  });
});
