/**
 * The cache model (docs/cache-model.md) with real processes: the cache in a Redis of its own
 * (ORCHARD_CACHE_REDIS_URL, a redis-server of the test's own) apart from the queues (REDIS_URL);
 * that cache Redis flushed mid-run; invalidations reaching every gateway process and replica; a
 * purged listing's files no longer served without a fresh listing.
 */
import http from 'node:http';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel, type BuiltDist } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { runPip } from '../support/pip.js';
import { OwnRedisServer } from '../support/redis.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { fileUrl, get, waitFor } from './helpers.js';

const ADMIN_TOKEN = 'cache-model-admin-token-0123456789';
const redisAvailable = await OwnRedisServer.available();

/** A GET on a connection of its own, so cluster workers each get some (keep-alive would pin one). */
function getFresh(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, headers: { connection: 'close' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

async function keysOf(redis: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

describe.skipIf(!redisAvailable)('the cache model with a cache Redis of its own', () => {
  const upstream = new FakeUpstream();
  let cacheServer: OwnRedisServer;
  let cacheRedis: Redis;
  let queueRedis: Redis;
  let orchard: OrchardProcesses;
  let prefix: string;
  let target: string;
  const wheels = new Map<string, BuiltDist>();
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

  const publish = async (name: string, version: string) => {
    const wheel = await buildWheel({ name, version });
    wheels.set(`${name}-${version}`, wheel);
    upstream.publish(name, { filename: wheel.filename, bytes: wheel.bytes });
    return wheel;
  };
  const install = async (project: string) => {
    await rm(target, { recursive: true, force: true });
    return runPip(['install', '--index-url', `${orchard.gatewayUrl}/simple/`, '--target', target, project]);
  };

  beforeAll(async () => {
    await publish('model-lib', '1.0');
    await publish('purge-lib', '1.0');
    await publish('purge-lib', '2.0');
    await publish('memo-lib', '1.0');
    await upstream.start();
    cacheServer = await OwnRedisServer.start();
    orchard = await OrchardProcesses.start({
      upstreams: `local=${upstream.url}`,
      env: { ORCHARD_CACHE_REDIS_URL: cacheServer.url, ORCHARD_ADMIN_TOKEN: ADMIN_TOKEN, ORCHARD_FETCH_WAIT_MS: '10000' },
    });
    prefix = orchard.env.ORCHARD_CACHE_PREFIX!;
    cacheRedis = new Redis(cacheServer.url);
    queueRedis = new Redis(orchard.env.REDIS_URL!);
    target = await mkdtemp(path.join(os.tmpdir(), 'orchard-cache-model-'));
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) console.log(orchard?.allLogs());
    cacheRedis?.disconnect();
    queueRedis?.disconnect();
    await orchard?.stop();
    await cacheServer?.stop();
    await upstream.stop();
    if (target) await rm(target, { recursive: true, force: true });
  });

  it('keeps cache keys in the cache Redis and queue keys in REDIS_URL’s, and reports both in /ready', async () => {
    const result = await install('model-lib');
    expect(result.code, result.stderr).toBe(0);
    const wheel = wheels.get('model-lib-1.0')!;
    // The extractor's record of the file lands in the cache Redis too.
    await waitFor(
      'the extracted artifact record',
      async () => ((await cacheRedis.get(`${prefix}:artifact:pypi:${wheel.sha256}`))?.includes('metadataSha256') ? true : undefined),
      20_000,
    );

    const cacheKeys = await keysOf(cacheRedis, `${prefix}:*`);
    expect(cacheKeys).toEqual(expect.arrayContaining([`${prefix}:index:pypi:model-lib`, `${prefix}:upstream:pypi:model-lib`, `${prefix}:artifact:pypi:${wheel.sha256}`]));
    // The shared server sees this run's queues and none of its cache (the two prefixes are equal in tests).
    expect(await keysOf(cacheRedis, `${prefix}:fetch:*`)).toEqual([]);
    expect(await keysOf(cacheRedis, `${prefix}:extract:*`)).toEqual([]);
    expect((await keysOf(queueRedis, `${prefix}:fetch:*`)).length).toBeGreaterThan(0);
    expect((await keysOf(queueRedis, `${prefix}:extract:*`)).length).toBeGreaterThan(0);
    for (const category of ['index', 'upstream', 'artifact']) expect(await keysOf(queueRedis, `${prefix}:${category}:*`), category).toEqual([]);

    // Every key of the cache has a bounded lifetime (the one exception: the upstream configuration version).
    for (const key of cacheKeys) {
      if (key.endsWith(':@version')) continue;
      // -1 is a key without expiry; -2 one that expired meanwhile.
      expect(await cacheRedis.ttl(key), key).not.toBe(-1);
    }

    for (const port of Object.values(orchard.ports)) {
      const ready = await get(`http://127.0.0.1:${port}/ready`);
      expect(ready.status).toBe(200);
      expect(JSON.parse(ready.text).checks).toMatchObject({ redis: { status: 'ok' }, cacheRedis: { status: 'ok' } });
    }
  });

  it('loses nothing but refills when the cache Redis is flushed mid-run', async () => {
    await cacheRedis.flushall();
    const result = await install('model-lib');
    expect(result.code, result.stderr).toBe(0);
    expect(await readdir(target)).toContain('model_lib');
    const page = await get(`${orchard.gatewayUrl}/simple/model-lib/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('x-orchard-cache')).toBe('hit');
    expect(await cacheRedis.exists(`${prefix}:index:pypi:model-lib`, `${prefix}:upstream:pypi:model-lib`)).toBe(2);
    // Stored once: the file came from storage after the flush, not from the upstream again.
    expect(upstream.requestsFor(`/files/${wheels.get('model-lib-1.0')!.filename}`)).toHaveLength(1);
  });

  it('serves a file of a purged listing only if a fresh listing still has it', async () => {
    const withdrawn = wheels.get('purge-lib-1.0')!;
    expect((await get(`${orchard.gatewayUrl}/simple/purge-lib/`)).text).toContain(withdrawn.filename);
    // The upstream withdraws the file (it would still serve the bytes); an operator purges every page.
    const entry = upstream.projects.get('purge-lib')!;
    entry.files = entry.files.filter((f) => f.filename !== withdrawn.filename);
    const purged = await get(`${orchard.gatewayUrl}/api/v1/admin/cache/pages`, { method: 'DELETE', headers: admin });
    expect(purged.status).toBe(200);
    const file = await get(fileUrl(orchard.gatewayUrl, 'purge-lib', withdrawn.sha256, withdrawn.filename));
    expect(file.status).toBe(404);
    const kept = wheels.get('purge-lib-2.0')!;
    expect((await get(fileUrl(orchard.gatewayUrl, 'purge-lib', kept.sha256, kept.filename))).status).toBe(200);
  });

  it('an invalidation through one gateway clears the page memo of every other replica at once', async () => {
    // Memos that would serve the old page for a minute without the invalidation message.
    const replicas = [await orchard.startGatewayReplica({ ORCHARD_PAGE_MEMO_MS: '60000' }), await orchard.startGatewayReplica({ ORCHARD_PAGE_MEMO_MS: '60000' })];
    const pageUrls = replicas.map((replica) => `${replica}/simple/memo-lib/`);
    for (const pageUrl of pageUrls) for (let i = 0; i < 3; i++) expect((await getFresh(pageUrl)).status).toBe(200);
    const added = await publish('memo-lib', '2.0');
    for (const pageUrl of pageUrls) expect((await getFresh(pageUrl)).text, `remembered by ${pageUrl}`).not.toContain(added.filename);

    const invalidated = await get(`${orchard.gatewayUrl}/api/v1/admin/cache/pages/memo-lib`, { method: 'DELETE', headers: admin });
    expect(invalidated.status).toBe(200);
    // Delivery is immediate; allow a little for the message to cross processes.
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const pageUrl of pageUrls) expect((await getFresh(pageUrl)).text, pageUrl).toContain(added.filename);
  });
});
