import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactCache } from './artifact-cache.js';
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

  it('keeps artifact facts without expiry', async () => {
    await artifacts.set('pypi', 'c'.repeat(64), { size: 10, filename: 'x.whl' });
    expect(await artifacts.get('pypi', 'c'.repeat(64))).toEqual({ size: 10, filename: 'x.whl' });
    expect(await redis.ttl(keys.key('artifact', 'pypi', 'c'.repeat(64)))).toBe(-1);
  });

  it('fails fast instead of hanging when Redis is unreachable', async () => {
    const down = createCacheRedis('redis://127.0.0.1:1/0');
    expect(await waitForRedis(down, 300)).toBe(false);
    const started = Date.now();
    await expect(new PageCache(down, keys).get('pypi', 'six', 'html')).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(2_500);
    down.disconnect();
  });
});
