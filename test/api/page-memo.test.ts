import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { FakeUpstream } from '../support/upstream-server.js';

const TOKEN = 'memo-test-admin-token-0123456789';
const JSON_TYPE = 'application/vnd.pypi.simple.v1+json';

/** Headers that legitimately differ between two answers. */
function comparable(res: Response): Record<string, string> {
  const headers: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    if (name !== 'date' && name !== 'x-request-id' && name !== 'keep-alive' && name !== 'connection') headers[name] = value;
  });
  return headers;
}

describe('the in-process memo for warm pages', () => {
  const upstream = new FakeUpstream();
  let orchard: OrchardProcesses;
  let redis: Redis;
  let page: string;

  beforeAll(async () => {
    const wheel = await buildWheel({ name: 'memo-demo', version: '1.0.0', requiresPython: '>=3.8' });
    upstream.publish('memo-demo', { filename: wheel.filename, bytes: wheel.bytes, requiresPython: '>=3.8' });
    await upstream.start();
    orchard = await OrchardProcesses.start({
      upstreams: `local=${upstream.url}`,
      services: ['gateway'],
      env: { ORCHARD_PAGE_MEMO_MS: '60000', ORCHARD_ADMIN_TOKEN: TOKEN },
    });
    redis = new Redis(orchard.env.REDIS_URL!);
    page = `${orchard.gatewayUrl}/simple/memo-demo/`;
  });

  afterAll(async () => {
    redis?.disconnect();
    await orchard?.stop();
    await upstream.stop();
  });

  const pageRequests = () => upstream.requests.filter((r) => r.path === '/simple/memo-demo/').length;

  it('answers repeats with exactly what the answer read from Redis sent, in every representation', async () => {
    const representations: Array<Record<string, string>> = [{ accept: JSON_TYPE }, { accept: 'text/html', 'accept-encoding': 'gzip' }, { accept: 'text/html' }];
    for (const headers of representations) {
      await fetch(page, { headers }).then((r) => r.arrayBuffer());
      const viaRedis = await fetch(page, { headers });
      const redisBody = Buffer.from(await viaRedis.arrayBuffer());
      const viaMemo = await fetch(page, { headers });
      const memoBody = Buffer.from(await viaMemo.arrayBuffer());
      expect(viaMemo.status).toBe(200);
      expect(comparable(viaMemo)).toEqual(comparable(viaRedis));
      expect(memoBody.equals(redisBody)).toBe(true);
      expect(viaMemo.headers.get('x-request-id')).toBeTruthy();
      expect(viaMemo.headers.get('x-orchard-cache')).toBe('hit');
    }
    expect(pageRequests()).toBe(1);
  });

  it('serves 304 with the ETag and HEAD with the GET length from memory', async () => {
    const get = await fetch(page, { headers: { accept: JSON_TYPE } });
    await get.arrayBuffer();
    const etag = get.headers.get('etag')!;
    const notModified = await fetch(page, { headers: { accept: JSON_TYPE, 'if-none-match': etag } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get('etag')).toBe(etag);
    const head = await fetch(page, { method: 'HEAD', headers: { accept: JSON_TYPE } });
    expect(head.headers.get('content-length')).toBe(get.headers.get('content-length'));
    expect(head.headers.get('content-encoding')).toBe(get.headers.get('content-encoding'));
  });

  it('really answers from memory (the Redis page is gone), until an admin invalidation clears it', async () => {
    const keys = await redis.keys(`${orchard.env.ORCHARD_CACHE_PREFIX}:index:pypi:memo-demo*`);
    expect(keys.length).toBeGreaterThan(0);
    await redis.del(...keys);
    const remembered = await fetch(page, { headers: { accept: JSON_TYPE } });
    expect(remembered.status).toBe(200);
    expect(remembered.headers.get('x-orchard-cache')).toBe('hit');
    expect(pageRequests()).toBe(1);

    const invalidated = await fetch(`${orchard.gatewayUrl}/api/v1/admin/cache/pages/memo-demo`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(invalidated.status).toBe(200);
    const refilled = await fetch(page, { headers: { accept: JSON_TYPE } });
    expect(refilled.status).toBe(200);
    expect(refilled.headers.get('x-orchard-cache')).toBe('miss');
    expect(pageRequests()).toBe(2);
  });

  it('leaves non-canonical names, queries and misses to the full path', async () => {
    const redirect = await fetch(`${orchard.gatewayUrl}/simple/Memo_Demo/`, { redirect: 'manual' });
    expect(redirect.status).toBe(301);
    const viaQuery = await fetch(`${page}?format=${encodeURIComponent(JSON_TYPE)}`);
    expect(viaQuery.headers.get('content-type')).toContain('json');
    const missing = await fetch(`${orchard.gatewayUrl}/simple/no-such-project/`);
    expect(missing.status).toBe(404);
  });
});
