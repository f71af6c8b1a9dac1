import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { RedisClient } from '../redis/index.js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../test/support/redis.js';
import { FakeUpstream } from '../../test/support/upstream-server.js';
import { CacheKeys, RootIndexCache, createCacheRedis, type RootVariant } from '../cache/index.js';
import type { UpstreamConfig } from '../config/index.js';
import { UpstreamClient, UpstreamError } from '../http/index.js';
import { createLogger } from '../log/index.js';
import { createMetrics } from '../metrics/index.js';
import { pypiProtocol } from '../protocol/pypi/index.js';
import { RootPages, type RootAnswer } from './root-pages.js';

const upstreamConfig = (name: string, url: string, priority: number): UpstreamConfig => ({
  name,
  protocol: 'pypi',
  url,
  priority,
  auth: { type: 'none' },
  credentialOrigins: [],
});

async function bodyOf(answer: RootAnswer): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of answer.kind === 'cached' ? answer.body() : answer.body) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

describe('RootPages (real Redis, fake upstreams)', () => {
  const first = new FakeUpstream();
  const second = new FakeUpstream();
  const http = new UpstreamClient({ connections: 4, connectTimeoutMs: 2_000, readTimeoutMs: 5_000, keepAliveMs: 1_000, maxRedirects: 2 });
  let redis: RedisClient;
  let prefix: string;
  let ttlSeconds = 3600;
  const prefixes: string[] = [];
  const rootRequests = () => [...first.requests, ...second.requests].filter((r) => r.path === '/simple/').length;

  const create = (client: RedisClient = redis) =>
    new RootPages({
      protocol: pypiProtocol,
      cache: new RootIndexCache(client, new CacheKeys(prefix), 'pypi'),
      http,
      upstreams: async () => [upstreamConfig('first', first.url, 0), upstreamConfig('second', second.url, 1)],
      ttlSeconds,
      staleTtlSeconds: 3600,
      metrics: createMetrics('gateway'),
      logger: createLogger('gateway', 'silent'),
    });
  const names = async (answer: RootAnswer) => (JSON.parse(await bodyOf(answer)) as { projects: { name: string }[] }).projects.map((p) => p.name);

  beforeAll(async () => {
    redis = new Redis(await testRedisUrl());
    first.format = 'html';
    second.format = 'json';
    first.rootExtraNames.push('Alpha', 'Shared.Name', 'not a valid name!');
    second.rootExtraNames.push('shared_name', 'beta');
    await first.start();
    await second.start();
  });

  beforeEach(() => {
    prefix = `test-${randomBytes(6).toString('hex')}`;
    prefixes.push(prefix);
    ttlSeconds = 3600;
    first.mode = 'ok';
    first.rootIndexEnabled = true;
  });

  afterEach(() => {
    first.requests.length = 0;
    second.requests.length = 0;
  });

  afterAll(async () => {
    for (const p of prefixes) {
      const keys = await redis.keys(`${p}:*`);
      if (keys.length > 0) await redis.del(...keys);
    }
    redis.disconnect();
    await http.close();
    await first.stop();
    await second.stop();
  });

  it('merges the upstreams’ lists (first wins a name, invalid names dropped) and asks once for concurrent misses', async () => {
    const root = create();
    const answers = await Promise.all(['json', 'json', 'html', 'json.gz'].map((v) => root.serve(v as RootVariant)));
    expect(rootRequests()).toBe(2);
    expect(answers.map((a) => a.kind === 'cached' && a.cache)).toEqual(['miss', 'miss', 'miss', 'miss']);
    expect(await names(answers[0]!)).toEqual(['Alpha', 'Shared.Name', 'beta']);
    expect(await bodyOf(answers[2]!)).toContain('<a href="shared-name/">Shared.Name</a>');
    // Another replica (a second instance on the same Redis) finds it cached.
    const again = await create().serve('json');
    expect(again.kind === 'cached' && again.cache).toBe('hit');
    expect(rootRequests()).toBe(2);
  });

  it('serves a stale list at once and refills it in the background', async () => {
    ttlSeconds = 0;
    const root = create();
    const filled = await root.serve('json');
    expect(filled.kind === 'cached' && filled.cache).toBe('miss');
    const before = filled.kind === 'cached' ? filled.meta.fetchedAt : 0;
    first.rootExtraNames.push('gamma');
    try {
      const stale = await root.serve('json');
      expect(stale.kind === 'cached' && stale.cache).toBe('stale');
      expect(await names(stale)).not.toContain('gamma');
      const refilled = await root.fill();
      expect(refilled.fetchedAt).toBeGreaterThan(before);
      const cache = new RootIndexCache(redis, new CacheKeys(prefix), 'pypi');
      expect((await cache.getMeta())?.generation).toBe(refilled.generation);
      expect(await names(await root.serve('json'))).toContain('gamma');
    } finally {
      first.rootExtraNames.pop();
    }
  });

  it('keeps serving the stale list when an upstream fails, and fails without one', async () => {
    ttlSeconds = 0;
    const root = create();
    await root.serve('html');
    first.mode = 'fail';
    const stale = await root.serve('html');
    expect(stale.kind === 'cached' && stale.cache).toBe('stale');
    await expect(root.fill()).rejects.toBeInstanceOf(UpstreamError);
    expect(await bodyOf(await root.serve('html'))).toContain('Alpha');
    prefix = `test-${randomBytes(6).toString('hex')}`;
    prefixes.push(prefix);
    await expect(create().serve('html')).rejects.toBeInstanceOf(UpstreamError);
  });

  it('counts an upstream without a root list as empty', async () => {
    first.rootIndexEnabled = false;
    expect(await names(await create().serve('json'))).toEqual(['shared_name', 'beta']);
  });

  it('renders straight from the upstreams while Redis is down', async () => {
    const down = createCacheRedis('redis://127.0.0.1:1/0', { connectTimeout: 200, commandTimeout: 200 });
    try {
      const answer = await create(down).serve('html');
      expect(answer.kind).toBe('uncached');
      const html = await bodyOf(answer);
      expect(html).toContain('<a href="alpha/">Alpha</a>');
      expect(html).toContain('<a href="beta/">beta</a>');
    } finally {
      down.disconnect();
    }
  });
});
