import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { RedisClient } from '../redis/index.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres.js';
import { CacheKeys, FileMap, PageCache, createCacheRedis, waitForRedis } from '../cache/index.js';
import { parseUpstreams } from '../config/index.js';
import { UpstreamRepository, createPrismaClient, runMigrations, type PrismaClient } from '../db/index.js';
import { UpstreamError } from '../http/index.js';
import { createLogger } from '../log/index.js';
import { UpstreamConflictError, UpstreamInputError } from './errors.js';
import { UpstreamRegistry } from './upstream-registry.js';

const logger = createLogger('gateway', 'silent');
const SECRET = 'hunter2-very-secret';

let db: TestDatabase;
let prisma: PrismaClient;
let redis: RedisClient;
let keys: CacheKeys;
const registries: UpstreamRegistry[] = [];

function registry(options: { redis?: RedisClient; prisma?: PrismaClient; env?: string; logger?: typeof logger } = {}): UpstreamRegistry {
  const r = new UpstreamRegistry({
    protocol: 'pypi',
    configured: parseUpstreams(options.env ?? 'corp=https://corp.example/simple/ pypi=https://pypi.example/simple/', {}, 'pypi'),
    repository: new UpstreamRepository(options.prisma ?? prisma),
    redis: options.redis ?? redis,
    keys,
    logger: options.logger ?? logger,
    checkIntervalMs: 100,
  });
  registries.push(r);
  return r;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
  await runMigrations({ databaseUrl: db.url });
  prisma = createPrismaClient({ databaseUrl: db.url, poolSize: 4 });
  redis = createCacheRedis('redis://127.0.0.1:6379/0');
  expect(await waitForRedis(redis)).toBe(true);
});

afterAll(async () => {
  for (const r of registries) r.close();
  redis?.disconnect();
  await prisma?.$disconnect();
  await db?.drop();
});

beforeEach(async () => {
  keys = new CacheKeys(`test-reg-${randomBytes(5).toString('hex')}`);
  await prisma.upstreamSource.deleteMany();
});

describe('UpstreamRegistry', () => {
  it('merges ORCHARD_UPSTREAMS with stored upstreams by priority, skipping disabled and shadowed ones', async () => {
    const repo = new UpstreamRepository(prisma);
    await repo.create({ name: 'private', url: 'https://private.example/simple/', priority: 5, authType: 'bearer', authSecret: SECRET });
    await repo.create({ name: 'mirror', url: 'https://mirror.example/simple/', priority: 15 });
    await repo.create({ name: 'off', url: 'https://off.example/simple/', priority: 1, enabled: false });
    await repo.create({ name: 'pypi', url: 'https://shadow.example/simple/', priority: 0 });
    await repo.create({ name: 'last', url: 'https://last.example/simple/' });
    const r = registry();
    const list = await r.list();
    expect(list.map((u) => `${u.name}:${u.priority}`)).toEqual(['private:5', 'corp:10', 'mirror:15', 'pypi:20', 'last:100']);
    expect(list[0]!.auth).toEqual({ type: 'bearer', token: SECRET });
    expect(list.find((u) => u.name === 'pypi')!.url).toBe('https://pypi.example/simple/');

    const described = await r.describe();
    expect(described.map((v) => `${v.name}/${v.source}/${v.active}`)).toEqual([
      'pypi/database/false',
      'off/database/false',
      'private/database/true',
      'corp/environment/true',
      'mirror/database/true',
      'pypi/environment/true',
      'last/database/true',
    ]);
    expect(JSON.stringify(described)).not.toContain(SECRET);
  });

  it('caches the stored list in Redis: a second process reads it without PostgreSQL', async () => {
    await new UpstreamRepository(prisma).create({ name: 'private', url: 'https://private.example/simple/', priority: 5 });
    await registry().list();
    expect(await redis.get(keys.key('upstream', 'pypi', '@stored'))).toContain('private');
    // A process whose PostgreSQL is unreachable still gets the list from Redis.
    const deadDb = createPrismaClient({ databaseUrl: 'postgresql://postgres@127.0.0.1:1/none', poolSize: 1, connectionTimeoutMs: 500 });
    const other = registry({ prisma: deadDb });
    expect((await other.list()).map((u) => u.name)).toEqual(['private', 'corp', 'pypi']);
    await deadDb.$disconnect();
  });

  it('a change drops the upstream category and every process picks it up within the check interval', async () => {
    const a = registry();
    const b = registry();
    b.start();
    await a.list();
    await b.list();
    const genBefore = b.generation();
    const fileMap = new FileMap(redis, keys);
    const pages = new PageCache(redis, keys);
    await fileMap.replace('pypi', 'some-project', new Map([['ab'.repeat(32), { url: 'https://x/f.whl', upstream: 'pypi', filename: 'f.whl' }]]), genBefore);
    await pages.put('pypi', 'some-project', { kind: 'page', etag: 'e', fetchedAt: Date.now(), generation: genBefore }, { html: 'x' }, 60);

    const added = await a.add({ name: 'private', url: 'https://private.example/simple', priority: 1, auth: { type: 'basic', username: 'ci', password: SECRET } });
    expect(added).toEqual({
      name: 'private',
      url: 'https://private.example/simple/',
      protocol: 'pypi',
      priority: 1,
      enabled: true,
      auth: 'basic',
      source: 'database',
      active: true,
    });
    expect(await redis.exists(keys.key('upstream', 'pypi', 'some-project'))).toBe(0);
    expect(await redis.exists(keys.key('index', 'pypi', 'some-project'))).toBe(1);

    const names = await until('replica b sees the new upstream', async () => {
      const list = await b.list();
      return list[0]!.name === 'private' ? list.map((u) => u.name) : undefined;
    });
    expect(names).toEqual(['private', 'corp', 'pypi']);
    expect(b.generation()).not.toBe(genBefore);
    expect(b.generation()).toBe(a.generation());
    expect((await b.list())[0]!.auth).toEqual({ type: 'basic', username: 'ci', password: SECRET });

    await a.change('private', { enabled: false });
    await until('replica b drops the disabled upstream', async () => ((await b.list())[0]!.name === 'corp' ? true : undefined));
    expect(await a.remove('private')).toBe(true);
    expect(await a.remove('private')).toBe(false);
    expect(await a.change('private', { priority: 3 })).toBeNull();
  });

  it('refuses bad input and names owned by the environment', async () => {
    const r = registry();
    await expect(r.add({ name: 'corp', url: 'https://x.example/simple/' })).rejects.toBeInstanceOf(UpstreamConflictError);
    await expect(r.change('pypi', { priority: 1 })).rejects.toBeInstanceOf(UpstreamConflictError);
    await expect(r.remove('pypi')).rejects.toBeInstanceOf(UpstreamConflictError);
    await expect(r.add({ name: 'Bad Name', url: 'https://x.example/simple/' })).rejects.toBeInstanceOf(UpstreamInputError);
    await expect(r.add({ name: 'x', url: 'ftp://x.example/simple/' })).rejects.toBeInstanceOf(UpstreamInputError);
    const withCredentials = await r.add({ name: 'x', url: `https://ci:${SECRET}@x.example/simple/` }).catch((e: unknown) => e);
    expect(withCredentials).toBeInstanceOf(UpstreamInputError);
    expect((withCredentials as Error).message).not.toContain(SECRET);
    await expect(r.add({ name: 'x', url: 'https://x.example/simple/?token=1' })).rejects.toBeInstanceOf(UpstreamInputError);
    await r.add({ name: 'x', url: 'https://x.example/simple/' });
    await expect(r.add({ name: 'x', url: 'https://y.example/simple/' })).rejects.toBeInstanceOf(UpstreamConflictError);
  });

  it('without Redis reads PostgreSQL; without either keeps the last list, and never starts from the environment alone', async () => {
    const down = createCacheRedis('redis://127.0.0.1:1/0', { connectTimeout: 200, commandTimeout: 200 });
    await new UpstreamRepository(prisma).create({ name: 'private', url: 'https://private.example/simple/', priority: 5 });
    const lines: Record<string, unknown>[] = [];
    const debug = createLogger('gateway', 'debug', new Writable({ write: (c: Buffer, _e, done) => (lines.push(JSON.parse(c.toString()) as Record<string, unknown>), done()) }));
    expect((await registry({ redis: down, logger: debug }).list()).map((u) => u.name)).toEqual(['private', 'corp', 'pypi']);
    // Redis failing is not silent: each fallback says why at debug.
    expect(lines).toContainEqual(expect.objectContaining({ level: 20, msg: 'upstream version not read from Redis; reading PostgreSQL', err: expect.any(String) }));

    const deadDb = createPrismaClient({ databaseUrl: 'postgresql://postgres@127.0.0.1:1/none', poolSize: 1, connectionTimeoutMs: 500 });
    const err = await registry({ redis: down, prisma: deadDb })
      .list()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).message).toMatch(/upstream configuration is unavailable/);
    down.disconnect();
    await deadDb.$disconnect();
  });
});
