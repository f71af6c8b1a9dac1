import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACT_TTL_SECONDS, ArtifactCache } from './artifact-cache.js';
import { InvalidationSubscriber, invalidationChannel, publishInvalidation, type Invalidation } from './invalidations.js';
import { createLogger } from '../log/index.js';
import { FileMap } from './file-map.js';
import { CacheKeys } from './keys.js';
import { PageCache, type PageMeta } from './page-cache.js';
import { createCacheRedis, waitForRedis } from './redis-connection.js';

const REDIS_URL = process.env.ORCHARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

describe('Redis cache (real Redis)', () => {
  const prefix = `cachetest-${randomBytes(4).toString('hex')}`;
  const keys = new CacheKeys(prefix);
  const redis = createCacheRedis(REDIS_URL);
  const pages = new PageCache(redis, keys);
  const files = new FileMap(redis, keys, 60);
  const artifacts = new ArtifactCache(redis, keys);
  const meta: PageMeta = { kind: 'page', etag: 'abc', fetchedAt: 1000, upstream: 'pypi', upstreamEtag: '"u1"' };

  beforeAll(async () => {
    expect(await waitForRedis(redis)).toBe(true);
  });

  afterAll(async () => {
    const stale = await redis.keys(`${prefix}:*`);
    if (stale.length > 0) await redis.del(...stale);
    redis.disconnect();
  });

  it('builds keys as {prefix}:{category}:{protocol}:{identifier}', () => {
    expect(new CacheKeys().key('index', 'pypi', 'requests')).toBe('orchard:index:pypi:requests');
    expect(keys.pattern('upstream')).toBe(`${prefix}:upstream:*:*`);
  });

  it('stores a page with its representations and reads meta plus one body in one call', async () => {
    await pages.put('pypi', 'six', meta, { html: Buffer.from('<html/>'), json: '{"x":1}' }, 600);
    const hit = await pages.get('pypi', 'six', 'json');
    expect(hit?.meta).toEqual(meta);
    expect(hit?.body?.toString()).toBe('{"x":1}');
    expect((await pages.get('pypi', 'six', 'html.gz'))?.body).toBeNull();
    expect(await pages.get('pypi', 'nothing', 'html')).toBeNull();
    const ttl = await redis.ttl(keys.key('index', 'pypi', 'six'));
    expect(ttl).toBeGreaterThan(590);
  });

  it('renews freshness without touching the bodies, and replaces a page whole', async () => {
    await pages.touch('pypi', 'six', { ...meta, fetchedAt: 2000 }, 600);
    const touched = await pages.get('pypi', 'six', 'html');
    expect(touched?.meta.fetchedAt).toBe(2000);
    expect(touched?.body?.toString()).toBe('<html/>');
    await pages.put('pypi', 'six', { ...meta, etag: 'new' }, { html: 'v2' }, 600);
    expect((await pages.get('pypi', 'six', 'json'))?.body).toBeNull();
    expect((await pages.getMeta('pypi', 'six'))?.etag).toBe('new');
  });

  it('tells a file no upstream listed apart from an expired file map', async () => {
    expect(await files.get('pypi', 'six', 'a'.repeat(64))).toEqual({ source: null, known: false });
    const source = { url: 'https://files.example/six.whl', upstream: 'pypi', filename: 'six.whl' };
    await files.replace('pypi', 'six', new Map([['a'.repeat(64), source]]));
    expect(await files.get('pypi', 'six', 'a'.repeat(64))).toEqual({ source, known: true });
    expect(await files.get('pypi', 'six', 'b'.repeat(64))).toEqual({ source: null, known: true });
    await files.replace('pypi', 'empty', new Map());
    expect(await files.get('pypi', 'empty', 'a'.repeat(64))).toEqual({ source: null, known: true });
    expect(await redis.ttl(keys.key('upstream', 'pypi', 'six'))).toBeGreaterThan(50);
  });

  it('keeps the file map of a page at the default ORCHARD_MAX_PAGE_FILES (100,000 files)', async () => {
    const listed = new Map<string, { url: string; upstream: string; filename: string }>();
    for (let i = 0; i < 100_000; i++) {
      const id = `${i.toString(16).padStart(64, '0')}/huge-${i}.0-py3-none-any.whl`;
      listed.set(id, { url: `https://files.example/huge-${i}.whl`, upstream: 'pypi', filename: `huge-${i}.0-py3-none-any.whl` });
    }
    await files.replace('pypi', 'huge', listed);
    const last = `${(99_999).toString(16).padStart(64, '0')}/huge-99999.0-py3-none-any.whl`;
    expect(await files.get('pypi', 'huge', last)).toEqual({ source: listed.get(last), known: true });
    expect(await files.fileIds('pypi', 'huge')).toHaveLength(100_000);
  });

  it('keeps artifact facts for 30 days after their last write or read, never without expiry', async () => {
    const key = keys.key('artifact', 'pypi', 'c'.repeat(64));
    await artifacts.set('pypi', 'c'.repeat(64), { size: 10, filename: 'x.whl' });
    expect(await redis.ttl(key)).toBeGreaterThan(ARTIFACT_TTL_SECONDS - 60);
    await redis.expire(key, 100);
    expect(await artifacts.get('pypi', 'c'.repeat(64))).toEqual({ size: 10, filename: 'x.whl' });
    expect(await redis.ttl(key), 'a read renews it').toBeGreaterThan(ARTIFACT_TTL_SECONDS - 60);

    await artifacts.setExtracted('pypi', 'six', 'd'.repeat(64), { size: 11, filename: 'y.whl', metadataSha256: 'e'.repeat(64) });
    const extracted = keys.key('artifact', 'pypi', 'd'.repeat(64));
    expect(await redis.ttl(extracted)).toBeGreaterThan(ARTIFACT_TTL_SECONDS - 60);
    await redis.expire(extracted, 100);
    expect(await artifacts.metadataDigests('pypi', ['d'.repeat(64), 'f'.repeat(64)])).toEqual(new Map([['d'.repeat(64), 'e'.repeat(64)]]));
    expect(await redis.ttl(extracted), 'a page fill advertising it renews it').toBeGreaterThan(ARTIFACT_TTL_SECONDS - 60);
  });

  it('drops every file map at once, but not the upstream registry keys of the same category', async () => {
    const source = { url: 'https://files.example/a.whl', upstream: 'pypi', filename: 'a.whl' };
    await files.replace('pypi', 'one', new Map([['a'.repeat(64), source]]));
    await files.replace('pypi', 'two', new Map());
    await redis.set(keys.key('upstream', 'pypi', '@version'), 'v1', 'EX', 60);
    expect(await files.deleteAll('pypi')).toBeGreaterThanOrEqual(2);
    expect((await files.get('pypi', 'one', 'a'.repeat(64))).known).toBe(false);
    expect((await files.get('pypi', 'two', 'a'.repeat(64))).known).toBe(false);
    expect(await redis.get(keys.key('upstream', 'pypi', '@version'))).toBe('v1');
  });

  it('delivers invalidations to every subscriber, and an invalidation of everything after a reconnection', async () => {
    const channel = invalidationChannel(prefix);
    const received: Array<{ who: string; invalidation: Invalidation }> = [];
    const logger = createLogger('test', 'silent');
    const subscribers = ['a', 'b'].map(
      (who) => new InvalidationSubscriber(`${REDIS_URL}?connectionName=${prefix}-${who}`, channel, 'pypi', (invalidation) => received.push({ who, invalidation }), logger),
    );
    try {
      await until(() => subscribers.every((s) => s.subscribed));
      // SUBSCRIBE is acknowledged after 'ready'; wait until the server counts both.
      await until(async () => ((await redis.pubsub('NUMSUB', channel)) as [string, number])[1] === 2);
      await publishInvalidation(redis, channel, { protocol: 'pypi', project: 'six' });
      await publishInvalidation(redis, channel, { protocol: 'npm' });
      await publishInvalidation(redis, channel, { protocol: 'pypi' });
      await until(() => received.length >= 4);
      expect(received).toEqual(
        expect.arrayContaining([
          { who: 'a', invalidation: { protocol: 'pypi', project: 'six' } },
          { who: 'b', invalidation: { protocol: 'pypi', project: 'six' } },
          { who: 'a', invalidation: { protocol: 'pypi' } },
          { who: 'b', invalidation: { protocol: 'pypi' } },
        ]),
      );
      expect(received).toHaveLength(4);
      received.length = 0;
      // A dropped connection may have lost messages: the subscriber forgets everything when it is back.
      // Only this test's subscriber connections (named below): the shared Redis has others.
      const clients = (await redis.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
      const ids = clients
        .split('\n')
        .filter((line) => line.includes(`name=${prefix}-`))
        .map((line) => /\bid=(\d+)/.exec(line)![1]!);
      expect(ids).toHaveLength(2);
      for (const id of ids) await redis.client('KILL', 'ID', id);
      await until(() => received.length >= 2);
      expect(received.map((r) => r.invalidation)).toEqual([{ protocol: 'pypi' }, { protocol: 'pypi' }]);
    } finally {
      for (const s of subscribers) s.close();
    }
  });

  it('fails fast instead of hanging when Redis is unreachable, logging connection errors at debug', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger('test', 'debug', new Writable({ write: (c: Buffer, _e, done) => (lines.push(JSON.parse(c.toString()) as Record<string, unknown>), done()) }));
    const down = createCacheRedis('redis://127.0.0.1:1/0', {}, logger);
    expect(await waitForRedis(down, 300)).toBe(false);
    expect(lines).toContainEqual(expect.objectContaining({ level: 20, msg: 'cache Redis connection error', err: expect.stringContaining('ECONNREFUSED') }));
    const started = Date.now();
    await expect(new PageCache(down, keys).get('pypi', 'six', 'html')).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(2_500);
    down.disconnect();
  });
});

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
