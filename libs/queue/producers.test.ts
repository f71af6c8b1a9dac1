import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../test/support/redis.js';
import { createLogger } from '../log/index.js';
import { createProducerRedis, createWorkerRedis } from './connections.js';
import type { StorageJob } from './jobs.js';
import { Producers } from './producers.js';
import { createWorker } from './workers.js';

const logger = createLogger('test', 'silent', new Writable({ write: (_c, _e, done) => done() }));

describe('storage runs', () => {
  let producers: Producers;
  let redis: ReturnType<typeof createProducerRedis>;
  let workerRedis: ReturnType<typeof createWorkerRedis>;
  const prefix = `test-storage-runs-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    const url = await testRedisUrl();
    redis = createProducerRedis(url);
    workerRedis = createWorkerRedis(url);
    producers = new Producers(redis, prefix, logger);
  });
  afterAll(async () => {
    await producers.close();
    redis.disconnect();
    workerRedis.disconnect();
  });

  it('runs a usage run pulled while one is active once more after it, however often it was pulled', async () => {
    const runs: StorageJob['trigger'][] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const firstStarted = new Promise<void>((resolve) => (started = resolve));
    const worker = createWorker(
      'storage',
      async (payload) => {
        runs.push(payload.trigger);
        if (runs.length === 1) {
          started();
          await released;
        }
      },
      { connection: workerRedis, prefix, concurrency: 1, logger },
    );
    void worker.run();
    try {
      await producers.addStorage({ trigger: 'usage' });
      await firstStarted;
      // Downloads starting while the run is active: without a run after it, they would find no room made.
      for (let i = 0; i < 5; i++) await producers.addStorage({ trigger: 'usage' });
      release();
      await expect.poll(() => runs.length, { timeout: 5_000 }).toBe(2);
      // Pulled again once idle: one more, and none left over.
      await producers.addStorage({ trigger: 'usage' });
      await expect.poll(() => runs.length, { timeout: 5_000 }).toBe(3);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(runs).toEqual(['usage', 'usage', 'usage']);
      expect(await producers.storage.getJobCounts('waiting', 'active', 'delayed')).toEqual({ waiting: 0, active: 0, delayed: 0 });
    } finally {
      await worker.close();
    }
  });
});
