import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { RedisClient } from '../../../libs/redis/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/support/postgres.js';
import { FakeUpstream } from '../../../test/support/upstream-server.js';
import { ArtifactCache, CacheKeys, createCacheRedis, waitForRedis } from '../../../libs/cache/index.js';
import { loadSettings } from '../../../libs/config/index.js';
import { StorageRepository, UpstreamRepository, createPrismaClient, runMigrations, type PrismaClient } from '../../../libs/db/index.js';
import { UpstreamClient } from '../../../libs/http/index.js';
import { createLogger } from '../../../libs/log/index.js';
import { createMetrics } from '../../../libs/metrics/index.js';
import { createProjectPages, type ProjectPages } from '../../../libs/pages/index.js';
import { pypiProtocol } from '../../../libs/protocol/pypi/index.js';
import { UpstreamRegistry } from '../../../libs/upstreams/index.js';
import { errorHandler, notFound } from '../http-errors.js';
import { adminRoutes } from './admin-routes.js';

const TOKEN = 'admin-token-0123456789abcdef';
const SECRET = 'pa55-w0rd-never-shown';
const logger = createLogger('gateway', 'silent');

let db: TestDatabase;
let prisma: PrismaClient;
let redis: RedisClient;
let registry: UpstreamRegistry;
let pages: ProjectPages;
let http1: UpstreamClient;
const upstream = new FakeUpstream();
const servers: http.Server[] = [];

/** An app with only the admin routes (and the gateway's 404 and error handling). */
async function serve(token: string | undefined): Promise<string> {
  const app = express();
  const storage = new StorageRepository(prisma);
  const storageQuota = { quotaBytes: 10_000_000, lowWaterBytes: 9_000_000, evictionGraceMs: 60_000, gcIntervalMs: 60_000, orphanAgeMs: 3_600_000 };
  app.use(
    adminRoutes({
      token,
      protocols: [{ protocol: pypiProtocol, registry, pages }],
      protocol: pypiProtocol,
      artifacts: new ArtifactCache(redis, new CacheKeys(prefix)),
      storage,
      storageQuota,
      logger,
    }),
  );
  app.use((_req, _res, next) => next(notFound('not found')));
  app.use(errorHandler(logger));
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/admin`;
}

let prefix = '';
let on = '';
let off = '';
const auth = { authorization: `Bearer ${TOKEN}` };
const json = { ...auth, 'content-type': 'application/json' };

async function call(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

beforeAll(async () => {
  upstream.publish('admin-lib', { filename: 'admin_lib-1.0-py3-none-any.whl', bytes: Buffer.from('wheel bytes') });
  await upstream.start();
  db = await createTestDatabase();
  await runMigrations({ databaseUrl: db.url });
  prisma = createPrismaClient({ databaseUrl: db.url, poolSize: 4 });
  redis = createCacheRedis('redis://127.0.0.1:6379/0');
  expect(await waitForRedis(redis)).toBe(true);
  prefix = `test-admin-${randomBytes(5).toString('hex')}`;
  const settings = loadSettings({ ORCHARD_UPSTREAMS: `local=${upstream.url}`, ORCHARD_CACHE_PREFIX: prefix });
  const keys = new CacheKeys(prefix);
  registry = new UpstreamRegistry({ protocol: 'pypi', configured: settings.upstreams, repository: new UpstreamRepository(prisma), redis, keys, logger });
  http1 = new UpstreamClient(settings.upstreamHttp);
  pages = createProjectPages({
    settings,
    prefix: '',
    protocol: pypiProtocol,
    redis,
    http: http1,
    upstreams: () => registry.list(),
    generation: () => registry.generation(),
    metrics: createMetrics('gateway'),
    logger,
  });
  on = await serve(TOKEN);
  off = await serve(undefined);
});

afterAll(async () => {
  for (const server of servers) await new Promise<void>((resolve) => server.close(() => resolve()));
  registry?.close();
  await http1?.close();
  redis?.disconnect();
  await prisma?.$disconnect();
  await db?.drop();
  await upstream.stop();
});

describe('admin API authentication', () => {
  it('is off (a plain 404, like any unknown path) without ORCHARD_ADMIN_TOKEN', async () => {
    for (const headers of [{}, auth]) {
      const res = await call(`${off}/upstreams`, { headers });
      expect(res.status).toBe(404);
      expect(res.text).toBe('not found\n');
    }
  });

  it('answers 401 with a Bearer challenge for a missing, wrong or differently sized token', async () => {
    for (const authorization of [undefined, 'Bearer wrong', `Bearer ${TOKEN.slice(0, -1)}x`, `Bearer ${TOKEN}0`, `Basic ${TOKEN}`, TOKEN]) {
      const res = await call(`${on}/upstreams`, { headers: authorization ? { authorization } : {} });
      expect(res.status, String(authorization)).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    // Also for paths that do not exist: nothing about the API is revealed without the token.
    expect((await call(`${on}/nothing-here`)).status).toBe(401);
    expect((await call(`${on}/nothing-here`, { headers: auth })).status).toBe(404);
  });
});

describe('admin API: upstreams', () => {
  it('lists the environment upstreams', async () => {
    const res = await call(`${on}/upstreams`, { headers: auth });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      upstreams: [{ name: 'local', url: upstream.url, protocol: 'pypi', priority: 10, enabled: true, auth: 'none', source: 'environment', active: true }],
    });
  });

  it('adds, shows, changes and removes a stored upstream; secrets are accepted but never returned', async () => {
    const created = await call(`${on}/upstreams`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ name: 'private', url: 'https://private.example/simple', priority: 5, auth: { type: 'basic', username: 'ci', password: SECRET } }),
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe('/api/v1/admin/upstreams/private');
    expect(created.json).toEqual({
      upstream: { name: 'private', url: 'https://private.example/simple/', protocol: 'pypi', priority: 5, enabled: true, auth: 'basic', source: 'database', active: true },
    });
    expect((await registry.list()).map((u) => u.name)).toEqual(['private', 'local']);

    const shown = await call(`${on}/upstreams/private`, { headers: auth });
    expect(shown.status).toBe(200);
    const listed = await call(`${on}/upstreams`, { headers: auth });
    const changed = await call(`${on}/upstreams/private`, {
      method: 'PATCH',
      headers: json,
      body: JSON.stringify({ priority: 50, auth: { type: 'bearer', token: SECRET } }),
    });
    expect(changed.status).toBe(200);
    expect(changed.json!.upstream).toMatchObject({ priority: 50, auth: 'bearer' });
    expect((await registry.list()).map((u) => u.name)).toEqual(['local', 'private']);
    expect((await registry.list())[1]!.auth).toEqual({ type: 'bearer', token: SECRET });
    for (const body of [created.text, shown.text, listed.text, changed.text]) expect(body).not.toContain(SECRET);

    expect((await call(`${on}/upstreams/private`, { method: 'DELETE', headers: auth })).status).toBe(204);
    expect((await call(`${on}/upstreams/private`, { method: 'DELETE', headers: auth })).status).toBe(404);
    expect((await call(`${on}/upstreams/private`, { headers: auth })).status).toBe(404);
    expect((await registry.list()).map((u) => u.name)).toEqual(['local']);
  });

  it('refuses bad bodies with 400, names of environment upstreams with 409, and never echoes a secret', async () => {
    const post = (body: unknown, headers: Record<string, string> = json) =>
      call(`${on}/upstreams`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
    const cases: Array<[unknown, number, RegExp]> = [
      [{ name: 'x', url: `https://ci:${SECRET}@x.example/simple/` }, 400, /credentials/],
      [{ name: 'x', url: 'ftp://x.example/' }, 400, /http or https/],
      [{ name: 'x', url: 'https://x.example/', auth: { type: 'basic', username: 'ci' } }, 400, /auth/],
      [{ name: 'x', url: 'https://x.example/', auth: { type: 'magic', secret: SECRET } }, 400, /auth/],
      [{ name: 'x', url: 'https://x.example/', password: SECRET }, 400, /Unrecognized key/],
      [{ name: 'Not A Name', url: 'https://x.example/' }, 400, /name/],
      [{ name: 'x', url: 'https://x.example/', priority: -1 }, 400, /priority/],
      [{ name: 'local', url: 'https://x.example/' }, 409, /ORCHARD_UPSTREAMS/],
      ['{not json', 400, /malformed/],
    ];
    for (const [body, status, reason] of cases) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.text).toMatch(reason);
      expect(res.text).not.toContain(SECRET);
    }
    expect((await post({ name: 'x', url: 'https://x.example/' }, { ...auth, 'content-type': 'text/plain' })).status).toBe(415);
    expect((await call(`${on}/upstreams/local`, { method: 'PATCH', headers: json, body: '{"priority":1}' })).status).toBe(409);
    expect((await call(`${on}/upstreams/local`, { method: 'DELETE', headers: auth })).status).toBe(409);
    expect((await call(`${on}/upstreams/nope`, { method: 'PATCH', headers: json, body: '{"priority":1}' })).status).toBe(404);
    await post({ name: 'dup', url: 'https://dup.example/simple/' });
    expect((await post({ name: 'dup', url: 'https://dup.example/simple/' })).status).toBe(409);
    await call(`${on}/upstreams/dup`, { method: 'DELETE', headers: auth });
  });
});

describe('admin API: page cache', () => {
  it('shows a project’s cache state, invalidates one page and all pages', async () => {
    const uncached = await call(`${on}/cache/projects/admin-lib`, { headers: auth });
    expect(uncached.json).toEqual({ project: 'admin-lib', state: 'uncached', files: { listed: null, cached: 0 } });

    expect((await pages.serve('admin-lib', 'html')).status).toBe('page');
    const fresh = await call(`${on}/cache/projects/Admin_Lib`, { headers: auth });
    expect(fresh.status).toBe(200);
    expect(fresh.json).toMatchObject({ project: 'admin-lib', state: 'fresh', upstream: 'local', currentConfiguration: true, files: { listed: 1, cached: 0 } });
    // Filled just now: an age of a few seconds at most, and a fetch time that agrees with it.
    expect(fresh.json!.ageSeconds).toBeGreaterThanOrEqual(0);
    expect(fresh.json!.ageSeconds).toBeLessThan(10);
    const fetchedAt = Date.parse(String(fresh.json!.fetchedAt));
    expect(Date.now() - fetchedAt).toBeGreaterThanOrEqual(0);
    expect(Math.abs((Date.now() - fetchedAt) / 1000 - Number(fresh.json!.ageSeconds))).toBeLessThan(2);

    expect((await pages.serve('nowhere-lib', 'html')).status).toBe('missing');
    expect((await call(`${on}/cache/projects/nowhere-lib`, { headers: auth })).json).toMatchObject({ state: 'missing' });

    const dropped = await call(`${on}/cache/pages/admin-lib`, { method: 'DELETE', headers: auth });
    expect(dropped.json).toEqual({ project: 'admin-lib', dropped: true });
    expect((await call(`${on}/cache/projects/admin-lib`, { headers: auth })).json).toMatchObject({ state: 'uncached' });
    expect((await call(`${on}/cache/pages/admin-lib`, { method: 'DELETE', headers: auth })).json).toEqual({ project: 'admin-lib', dropped: false });

    await pages.serve('admin-lib', 'html');
    const all = await call(`${on}/cache/pages`, { method: 'DELETE', headers: auth });
    expect(all.status).toBe(200);
    expect(all.json!.dropped).toBeGreaterThanOrEqual(2);
    expect((await call(`${on}/cache/projects/admin-lib`, { headers: auth })).json).toMatchObject({ state: 'uncached' });
    expect((await call(`${on}/cache/projects/nowhere-lib`, { headers: auth })).json).toMatchObject({ state: 'uncached' });
    expect((await call(`${on}/cache/projects/not a name`, { headers: auth })).status).toBe(400);
  });

  it('marks a page filled before an upstream change as not current, so it is revalidated before being served', async () => {
    await pages.serve('admin-lib', 'html');
    expect((await call(`${on}/cache/projects/admin-lib`, { headers: auth })).json).toMatchObject({ state: 'fresh', currentConfiguration: true });
    await call(`${on}/upstreams`, { method: 'POST', headers: json, body: JSON.stringify({ name: 'extra', url: 'https://extra.example/simple/', priority: 500 }) });
    expect((await call(`${on}/cache/projects/admin-lib`, { headers: auth })).json).toMatchObject({ state: 'stale', currentConfiguration: false });
    const answer = await pages.serve('admin-lib', 'html');
    expect(answer).toMatchObject({ status: 'page', cache: 'miss' });
    expect((await call(`${on}/cache/projects/admin-lib`, { headers: auth })).json).toMatchObject({ state: 'fresh', currentConfiguration: true });
    await call(`${on}/upstreams/extra`, { method: 'DELETE', headers: auth });
  });
});
