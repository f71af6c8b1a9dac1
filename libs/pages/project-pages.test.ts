import { createHash, randomBytes } from 'node:crypto';
import type { RedisClient } from '../redis/index.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeUpstream } from '../../test/support/upstream-server.js';
import { CacheKeys, createCacheRedis, waitForRedis } from '../cache/index.js';
import { loadSettings } from '../config/index.js';
import { UpstreamClient } from '../http/index.js';
import { createLogger } from '../log/index.js';
import { createMetrics } from '../metrics/index.js';
import { pypiProtocol } from '../protocol/pypi/index.js';
import { createProjectPages } from './create-project-pages.js';
import type { ProjectPages } from './project-pages.js';

const logger = createLogger('gateway', 'silent');
const sha = (n: number) => n.toString(16).padStart(64, '0');

describe('ProjectPages', () => {
  const upstream = new FakeUpstream();
  let redis: RedisClient;
  let http: UpstreamClient;
  let prefix: string;
  let generation = 'g1';
  let staleCalls: string[] = [];

  function pages(options: { redis?: RedisClient; ttl?: string } = {}): ProjectPages {
    const settings = loadSettings({ ORCHARD_UPSTREAMS: `local=${upstream.url}`, ORCHARD_CACHE_PREFIX: prefix, ORCHARD_INDEX_TTL: options.ttl ?? '300' });
    return createProjectPages({
      settings,
      prefix: '',
      protocol: pypiProtocol,
      redis: options.redis ?? redis,
      http,
      upstreams: async () => settings.upstreams,
      generation: () => generation,
      onStale: async (project) => void staleCalls.push(project),
      metrics: createMetrics('gateway'),
      logger,
    });
  }
  const conditional = (project: string) => upstream.requestsFor(`/simple/${project}/`).filter((r) => r.ifNoneMatch);

  beforeAll(async () => {
    upstream.publish('one-lib', { filename: 'one_lib-1.0-py3-none-any.whl', bytes: Buffer.from('one') });
    upstream.publish('one-lib', { filename: 'one_lib-1.1-py3-none-any.whl', bytes: Buffer.from('one.1') });
    await upstream.start();
    redis = createCacheRedis('redis://127.0.0.1:6379/0');
    expect(await waitForRedis(redis)).toBe(true);
    http = new UpstreamClient(loadSettings({}).upstreamHttp);
  });

  afterAll(async () => {
    redis?.disconnect();
    await http?.close();
    await upstream.stop();
  });

  beforeEach(() => {
    prefix = `test-pages-${randomBytes(5).toString('hex')}`;
    generation = 'g1';
    staleCalls = [];
    upstream.requests.length = 0;
    upstream.mode = 'ok';
  });

  const oneSha = () => upstream.requestsFor('/simple/one-lib/').length;
  /** The file id (sha256) of published bytes, as the page lists it. */
  const fileId = async (bytes: string) => createHash('sha256').update(bytes).digest('hex');

  it('serves miss then hit; a page past its TTL is served stale at once and a refresh is scheduled', async () => {
    const p = pages({ ttl: '0' });
    expect(await p.serve('one-lib', 'html')).toMatchObject({ status: 'page', cache: 'miss' });
    expect(await p.serve('one-lib', 'json')).toMatchObject({ status: 'page', cache: 'stale' });
    expect(staleCalls).toEqual(['one-lib']);
    expect(oneSha()).toBe(1);
  });

  it('revalidates conditionally in refresh(); a 304 renews freshness only', async () => {
    const stale = pages({ ttl: '0' });
    await stale.serve('one-lib', 'html');
    await stale.refresh('one-lib');
    expect(conditional('one-lib')).toHaveLength(1);
    // Fresh again under a normal TTL: refresh() leaves a fresh page alone.
    const normal = pages();
    expect(await normal.serve('one-lib', 'html')).toMatchObject({ cache: 'hit' });
    await normal.refresh('one-lib');
    expect(oneSha()).toBe(2);
  });

  it('records a failed revalidation: the stale page is then served as stale-error, without scheduling another refresh at once', async () => {
    const p = pages({ ttl: '0' });
    const first = await p.serve('one-lib', 'html');
    upstream.mode = 'fail';
    await expect(p.refresh('one-lib')).rejects.toThrow(/answered 500/);
    staleCalls = [];
    const answer = await p.serve('one-lib', 'html');
    expect(answer).toMatchObject({ status: 'page', cache: 'stale-error' });
    expect(answer.status === 'page' && first.status === 'page' && answer.body.equals(first.body)).toBe(true);
    expect(staleCalls).toEqual([]);
    expect(await p.state('one-lib')).toMatchObject({ state: 'stale', upstream: 'local', revalidationFailedAt: expect.any(String) });
  });

  it('finds a listed file even when its map is gone and the page is only revalidated by a 304', async () => {
    const p = pages({ ttl: '0' });
    await p.serve('one-lib', 'html');
    await redis.del(new CacheKeys(prefix).key('upstream', 'pypi', 'one-lib'));
    await p.refresh('one-lib'); // a 304: the map is not rebuilt
    const id = await fileId('one.1');
    expect(await p.lookupFile('one-lib', id, 'one_lib-1.1-py3-none-any.whl')).toMatchObject({ filename: 'one_lib-1.1-py3-none-any.whl', upstream: 'local' });
    expect(await p.lookupFile('one-lib', sha(42), 'one_lib-1.1-py3-none-any.whl')).toBeNull();
    const before = oneSha();
    // Now the map is known: an unlisted id, or a listed id under another name, costs no upstream request.
    expect(await p.lookupFile('one-lib', sha(43), 'one_lib-1.1-py3-none-any.whl')).toBeNull();
    expect(await p.lookupFile('one-lib', id, 'one_lib-9.9-py3-none-any.whl')).toBeNull();
    expect(oneSha()).toBe(before);
  });

  it('refills a page of another upstream configuration in full before serving it', async () => {
    const p = pages();
    await p.serve('one-lib', 'html');
    generation = 'g2';
    expect(await p.state('one-lib')).toMatchObject({ state: 'stale', currentConfiguration: false });
    expect(await p.serve('one-lib', 'html')).toMatchObject({ status: 'page', cache: 'miss' });
    expect(conditional('one-lib')).toHaveLength(0);
    expect(oneSha()).toBe(2);
    expect(await p.serve('one-lib', 'html')).toMatchObject({ cache: 'hit' });
    // A file map of the old generation does not count either.
    expect(await p.lookupFile('one-lib', await fileId('one'), 'one_lib-1.0-py3-none-any.whl')).toMatchObject({ upstream: 'local' });
  });

  it('invalidateAll drops the file maps too: a file the upstream no longer lists is found only in a fresh listing', async () => {
    upstream.publish('purged-lib', { filename: 'purged_lib-1.0-py3-none-any.whl', bytes: Buffer.from('purged') });
    upstream.publish('purged-lib', { filename: 'purged_lib-1.1-py3-none-any.whl', bytes: Buffer.from('kept') });
    const p = pages();
    await p.serve('purged-lib', 'html');
    const purged = await fileId('purged');
    expect(await p.lookupFile('purged-lib', purged, 'purged_lib-1.0-py3-none-any.whl')).toMatchObject({ upstream: 'local' });
    // The upstream withdraws the file; an operator purges every cached page.
    const entry = upstream.projects.get('purged-lib')!;
    entry.files = entry.files.filter((f) => f.filename !== 'purged_lib-1.0-py3-none-any.whl');
    expect(await p.invalidateAll()).toBeGreaterThanOrEqual(2);
    const before = upstream.requestsFor('/simple/purged-lib/').length;
    expect(await p.lookupFile('purged-lib', purged, 'purged_lib-1.0-py3-none-any.whl')).toBeNull();
    expect(upstream.requestsFor('/simple/purged-lib/').length, 'looked up in a fresh listing').toBe(before + 1);
    expect(await p.lookupFile('purged-lib', await fileId('kept'), 'purged_lib-1.1-py3-none-any.whl')).toMatchObject({ upstream: 'local' });
  });

  it('without Redis serves straight from upstream and still finds listed files', async () => {
    const down = createCacheRedis('redis://127.0.0.1:1/0', { connectTimeout: 200, commandTimeout: 200 });
    const p = pages({ redis: down });
    expect(await p.serve('one-lib', 'html')).toMatchObject({ status: 'page', cache: 'uncached' });
    expect(await p.lookupFile('one-lib', await fileId('one'), 'one_lib-1.0-py3-none-any.whl')).toMatchObject({ upstream: 'local' });
    expect(await p.serve('nope-lib', 'html')).toMatchObject({ status: 'missing', cache: 'uncached' });
    down.disconnect();
  });
});
