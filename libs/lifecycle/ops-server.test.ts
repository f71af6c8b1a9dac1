import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../metrics/index.js';
import { closeServer, startOpsServer } from './ops-server.js';

describe("the workers' ops server", () => {
  let server: http.Server | undefined;
  afterEach(async () => {
    if (server) await closeServer(server);
    server = undefined;
  });

  async function start(redisUp: boolean, beforeScrape?: () => Promise<void>) {
    const metrics = createMetrics('fetcher');
    server = await startOpsServer({
      host: '127.0.0.1',
      port: 0,
      registry: metrics.registry,
      checks: {
        redis: async () => {
          if (!redisUp) throw new Error('Connection is closed.');
        },
        postgres: async () => 1,
        storage: async () => undefined,
      },
      details: () => ({ concurrency: { fetch: 8 }, dbPoolSize: 4 }),
      beforeScrape,
    });
    return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, metrics };
  }

  it('answers /health, and /ready with every check and the pool sizes', async () => {
    const { base } = await start(true);
    expect(await (await fetch(`${base}/health`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${base}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: 'ready',
      checks: { redis: { status: 'ok' }, postgres: { status: 'ok' }, storage: { status: 'ok' } },
      concurrency: { fetch: 8 },
      dbPoolSize: 4,
    });
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it('answers 503 on /ready when a dependency is down', async () => {
    const { base } = await start(false);
    const ready = await fetch(`${base}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'unready', checks: { redis: { status: 'error', error: 'Connection is closed.' } } });
  });

  it('refreshes scrape-time gauges before rendering /metrics, and still answers when that fails', async () => {
    let calls = 0;
    const { base, metrics } = await start(true, async () => {
      calls++;
      if (calls === 2) throw new Error('redis down');
      metrics.queueJobs.set({ queue: 'fetch', state: 'waiting' }, calls);
    });
    const first = await fetch(`${base}/metrics`);
    expect(first.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await first.text()).toMatch(/^orchard_queue_jobs\{queue="fetch",state="waiting",service="fetcher"\} 1$/m);
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
    expect(calls).toBe(2);
  });
});
