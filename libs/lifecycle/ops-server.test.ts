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

  async function start(redisUp: boolean, scrape?: () => Promise<string>) {
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
      scrape,
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

  it('renders /metrics from the registry, or from the scrape it was given (a gateway process asks its primary)', async () => {
    const own = await start(true);
    own.metrics.jobs.inc({ queue: 'fetch', outcome: 'completed' });
    const first = await fetch(`${own.base}/metrics`);
    expect(first.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await first.text()).toMatch(/^orchard_jobs_total\{queue="fetch",outcome="completed",service="fetcher"\} 1$/m);
    await closeServer(server!);
    const given = await start(true, async () => 'orchard_jobs_total{queue="fetch",outcome="completed"} 5\n');
    expect(await (await fetch(`${given.base}/metrics`)).text()).toBe('orchard_jobs_total{queue="fetch",outcome="completed"} 5\n');
  });
});
