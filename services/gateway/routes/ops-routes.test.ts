import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeServer, startOpsServer, type OpsEndpointsOptions } from '../../../libs/lifecycle/index.js';
import { createMetrics } from '../../../libs/metrics/index.js';
import { opsRoutes } from './ops-routes.js';

interface Answer {
  status: number;
  type: string | null;
  body: string;
}

async function answer(base: string, path: string, method = 'GET'): Promise<Answer> {
  const res = await fetch(`${base}${path}`, { method });
  // Latencies differ between two runs of the same checks; everything else must not.
  const body = (await res.text()).replace(/"latencyMs":\d+/g, '"latencyMs":0');
  return { status: res.status, type: res.headers.get('content-type'), body };
}

describe('one implementation of /health, /ready and /metrics for the gateway and the workers', () => {
  const servers: http.Server[] = [];
  let gateway = '';
  let worker = '';

  const listen = async (server: http.Server) => {
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  beforeAll(async () => {
    const options = (): OpsEndpointsOptions => ({
      registry: createMetrics('fetcher').registry,
      checks: {
        redis: async () => 'PONG',
        migrations: async () => {
          throw new Error('migrations failed: boom');
        },
      },
      details: () => ({ dbPoolSize: 4 }),
    });
    const app = express().use(opsRoutes(options()));
    gateway = await listen(
      await new Promise<http.Server>((resolve) => {
        const server = app.listen(0, '127.0.0.1', () => resolve(server));
      }),
    );
    worker = await listen(await startOpsServer({ host: '127.0.0.1', port: 0, ...options() }));
  });

  afterAll(async () => {
    for (const server of servers) await closeServer(server);
  });

  it('answers each route with the same status, type and body on both', async () => {
    for (const path of ['/health', '/ready', '/ready?verbose=1']) {
      const fromGateway = await answer(gateway, path);
      expect(fromGateway, path).toEqual(await answer(worker, path));
    }
    expect(await answer(gateway, '/health')).toEqual({ status: 200, type: 'application/json; charset=utf-8', body: '{"status":"ok"}' });
    const ready = await answer(worker, '/ready');
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body)).toMatchObject({ status: 'unready', degraded: ['migrations'], dbPoolSize: 4 });
    const metrics = await Promise.all([answer(gateway, '/metrics'), answer(worker, '/metrics')]);
    expect(metrics.map((m) => [m.status, m.type])).toEqual([
      [200, metrics[1]!.type],
      [200, expect.stringMatching(/^text\/plain; version=0\.0\.4/)],
    ]);
    expect((await answer(gateway, '/health', 'HEAD')).status).toBe(200);
  });
});
