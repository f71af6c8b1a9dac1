import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrchardProcesses, type ServiceName } from '../support/orchard.js';
import { scrape, samplesOf } from '../support/prometheus.js';
import { OwnRedisServer } from '../support/redis.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { waitFor } from './helpers.js';

const SERVICES: ServiceName[] = ['gateway', 'fetcher', 'extractor'];

interface ReadyBody {
  status: 'ready' | 'unready';
  checks: Record<'redis' | 'postgres' | 'storage', { status: 'ok' | 'error'; error?: string; latencyMs?: number }>;
  [detail: string]: unknown;
}

const redisAvailable = await OwnRedisServer.available();

/** Stops and restarts a Redis of its own (the machine's shared one is never touched). */
describe.skipIf(!redisAvailable)('/ready follows Redis going away and coming back', () => {
  const upstream = new FakeUpstream();
  let redis: OwnRedisServer;
  let orchard: OrchardProcesses;

  const ready = async (service: ServiceName): Promise<{ status: number; body: ReadyBody }> => {
    const res = await fetch(`http://127.0.0.1:${orchard.ports[service]}/ready`);
    return { status: res.status, body: (await res.json()) as ReadyBody };
  };

  beforeAll(async () => {
    await upstream.start();
    redis = await OwnRedisServer.start();
    orchard = await OrchardProcesses.start({ upstreams: `local=${upstream.url}`, env: { REDIS_URL: redis.url } });
  });

  afterAll(async () => {
    await redis?.start().catch(() => {});
    await orchard?.stop();
    await redis?.stop();
    await upstream.stop();
  });

  it('is ready with every dependency ok, and reports pool sizes and worker concurrency', async () => {
    for (const service of SERVICES) {
      const { status, body } = await ready(service);
      expect(status, service).toBe(200);
      expect(body.status).toBe('ready');
      for (const check of ['redis', 'postgres', 'storage'] as const) {
        expect(body.checks[check], `${service} ${check}`).toMatchObject({ status: 'ok' });
        expect(typeof body.checks[check].latencyMs).toBe('number');
      }
      expect(body.dbPoolSize, service).toBe(4);
    }
    expect((await ready('gateway')).body.upstreamPool).toBeDefined();
    expect((await ready('fetcher')).body).toMatchObject({ concurrency: { fetch: 8, refresh: 4 }, upstreamPool: expect.anything() });
    expect((await ready('extractor')).body).toMatchObject({ concurrency: { extract: 4 } });
  });

  it('turns unready (503, redis: error) on every service when Redis stops, staying alive', async () => {
    await redis.stop();
    for (const service of SERVICES) {
      const { body } = await waitFor(
        `${service} unready`,
        async () => {
          const answer = await ready(service);
          return answer.status === 503 ? answer : undefined;
        },
        20_000,
        200,
      );
      expect(body.status).toBe('unready');
      expect(body.checks.redis.status).toBe('error');
      expect(body.checks.redis.error, 'a short reason, no connection string').not.toMatch(/redis:\/\//);
      expect(body.checks.postgres.status).toBe('ok');
      expect(body.checks.storage.status).toBe('ok');
      expect((await fetch(`http://127.0.0.1:${orchard.ports[service]}/health`)).status, `${service} is alive`).toBe(200);
    }
    // Queue depth cannot be read: the series are dropped rather than frozen at old values.
    const families = await scrape(orchard.gatewayUrl);
    expect(samplesOf(families, 'orchard_queue_jobs')).toEqual([]);
    for (const service of SERVICES) expect(orchard.children.get(service)?.exitCode, `${service} still runs`).toBeNull();
  });

  it('is ready again on every service once Redis is back, queue depth included', async () => {
    await redis.start();
    for (const service of SERVICES) {
      const { body } = await waitFor(
        `${service} ready again`,
        async () => {
          const answer = await ready(service);
          return answer.status === 200 ? answer : undefined;
        },
        30_000,
        200,
      );
      expect(body.checks.redis.status).toBe('ok');
    }
    const families = await waitFor('queue depth again', async () => {
      const f = await scrape(orchard.gatewayUrl);
      return samplesOf(f, 'orchard_queue_jobs', { queue: 'fetch', state: 'waiting' }).length === 1 ? f : undefined;
    });
    expect(samplesOf(families, 'orchard_queue_jobs', { queue: 'fetch', state: 'waiting' })[0]!.value).toBe(0);
  });
});
