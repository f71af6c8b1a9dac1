import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadSettings } from './settings.js';

describe('loadSettings', () => {
  it('gives working defaults for a single machine', () => {
    const s = loadSettings({});
    expect(s.gatewayPort).toBe(8080);
    expect(s.databaseUrl).toBe('postgresql://postgres@127.0.0.1:5432/orchard');
    expect(s.redisUrl).toBe('redis://127.0.0.1:6379/0');
    expect(s.upstreams).toEqual([{ name: 'pypi', protocol: 'pypi', url: 'https://pypi.org/simple/', priority: 10, auth: { type: 'none' }, credentialOrigins: [] }]);
    expect(s.storage).toEqual({ kind: 'fs', root: expect.stringMatching(/\/data$/) });
    expect(s.indexTtlSeconds).toBe(300);
    expect(s.adminToken).toBeUndefined();
  });

  it('names every bad variable in one error', () => {
    let error: unknown;
    try {
      loadSettings({ ORCHARD_PORT: 'eighty', ORCHARD_INDEX_TTL: '-1', ORCHARD_STORAGE: 'ftp' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('ORCHARD_PORT');
    expect(message).toContain('ORCHARD_INDEX_TTL');
    expect(message).toContain('ORCHARD_STORAGE');
  });

  it('reads policy views from ORCHARD_VIEWS as JSON or from the file it names, and refuses anything else', async () => {
    expect(loadSettings({}).views).toEqual({});
    const views = { ci: { 'exclude-newer': '2026-11-01T00:00:00Z' } };
    expect(loadSettings({ ORCHARD_VIEWS: JSON.stringify(views) }).views).toEqual(views);
    const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'orchard-views-')), 'views.json');
    await writeFile(file, JSON.stringify(views));
    expect(loadSettings({ ORCHARD_VIEWS: `@${file}` }).views).toEqual(views);
    expect(() => loadSettings({ ORCHARD_VIEWS: '{"ci":' })).toThrow(/ORCHARD_VIEWS: .*JSON/);
    expect(() => loadSettings({ ORCHARD_VIEWS: '["ci"]' })).toThrow(/ORCHARD_VIEWS: view name "\[\\"ci\\"\]" must match/);
    // The compact form of the design's contract, from the variable or a file.
    const compact = 'ci:exclude-newer=2026-11-01T00:00:00Z cool:min-age=7d,exclude-yanked';
    expect(loadSettings({ ORCHARD_VIEWS: compact }).views).toEqual({ ...views, cool: { 'min-age': '7d', 'exclude-yanked': true } });
    await writeFile(file, compact.replace(' ', '\n'));
    expect(loadSettings({ ORCHARD_VIEWS: `@${file}` }).views).toEqual({ ...views, cool: { 'min-age': '7d', 'exclude-yanked': true } });
    expect(() => loadSettings({ ORCHARD_VIEWS: '@/nonexistent/views.json' })).toThrow(/ORCHARD_VIEWS: .*no such file/);
    // The rules are checked with the settings: a bad view stops the service before it starts.
    expect(() => loadSettings({ ORCHARD_VIEWS: '{"cool":{"min-age":"soon"}}' })).toThrow(/ORCHARD_VIEWS: view cool: min-age: a duration/);
  });

  it('serves npm under /npm from the public registry by default, each protocol with its own upstreams', () => {
    const defaults = loadSettings({});
    expect(defaults.protocols).toEqual([
      { name: 'pypi', prefix: '', upstreams: [expect.objectContaining({ name: 'pypi', protocol: 'pypi', url: 'https://pypi.org/simple/' })] },
      { name: 'npm', prefix: '/npm', upstreams: [expect.objectContaining({ name: 'npmjs', protocol: 'npm', url: 'https://registry.npmjs.org/' })] },
    ]);
    expect(defaults.upstreams).toBe(defaults.protocols[0]!.upstreams);
    expect(defaults.publicUrl).toBe('http://localhost:8080');
    const custom = loadSettings({
      ORCHARD_NPM_UPSTREAMS: 'corp=https://npm.corp.example/ npmjs=https://registry.npmjs.org/',
      ORCHARD_UPSTREAM_CORP_TOKEN: 'npm_secret_token',
      ORCHARD_NPM_PREFIX: '/registry',
      ORCHARD_PUBLIC_URL: 'https://orchard.example/',
    });
    expect(custom.protocols[1]).toMatchObject({ name: 'npm', prefix: '/registry', upstreams: [{ name: 'corp', auth: { type: 'bearer' } }, { name: 'npmjs' }] });
    expect(custom.publicUrl).toBe('https://orchard.example');
    expect(() => loadSettings({ ORCHARD_NPM_UPSTREAMS: 'corp=ftp://npm.corp/' })).toThrow(/ORCHARD_NPM_UPSTREAMS: /);
    expect(() => loadSettings({ ORCHARD_NPM_PREFIX: '/simple' })).toThrow(/ORCHARD_NPM_PREFIX: taken by Orchard's own routes/);
    expect(() => loadSettings({ ORCHARD_NPM_PREFIX: 'npm/' })).toThrow(/ORCHARD_NPM_PREFIX: a slash and one path segment/);
    expect(() => loadSettings({ ORCHARD_PUBLIC_URL: 'orchard.example' })).toThrow(/ORCHARD_PUBLIC_URL/);
  });

  it('has no storage quota unless one is set, in decimal or binary units', () => {
    expect(loadSettings({}).storageLifecycle).toEqual({ evictionGraceMs: 600_000, gcIntervalMs: 300_000, orphanAgeMs: 6 * 3_600_000 });
    expect(loadSettings({ ORCHARD_STORAGE_QUOTA: '500MB' }).storageLifecycle).toMatchObject({ quotaBytes: 500e6, lowWaterBytes: 450e6 });
    expect(loadSettings({ ORCHARD_STORAGE_QUOTA: '2 GiB', ORCHARD_STORAGE_LOW_WATER: '75' }).storageLifecycle).toMatchObject({
      quotaBytes: 2 * 2 ** 30,
      lowWaterBytes: 1.5 * 2 ** 30,
    });
    expect(loadSettings({ ORCHARD_STORAGE_QUOTA: '1048576' }).storageLifecycle.quotaBytes).toBe(1_048_576);
    for (const bad of ['lots', '10XB', '-5MB', '0', '1.5.2GB']) expect(() => loadSettings({ ORCHARD_STORAGE_QUOTA: bad })).toThrow(/ORCHARD_STORAGE_QUOTA: must be a size/);
    expect(() => loadSettings({ ORCHARD_STORAGE_LOW_WATER: '0' })).toThrow(/ORCHARD_STORAGE_LOW_WATER/);
  });

  it('migrates at start unless ORCHARD_MIGRATE=off, and refuses any other value', () => {
    expect(loadSettings({}).migrate).toBe('auto');
    expect(loadSettings({ ORCHARD_MIGRATE: 'off' }).migrate).toBe('off');
    expect(() => loadSettings({ ORCHARD_MIGRATE: 'no' })).toThrow(/ORCHARD_MIGRATE/);
  });

  it('requires a bucket for s3 and s3 for redirect downloads', () => {
    expect(() => loadSettings({ ORCHARD_STORAGE: 's3' })).toThrow(/S3_BUCKET/);
    expect(() => loadSettings({ ORCHARD_DOWNLOAD_MODE: 'redirect' })).toThrow(/ORCHARD_DOWNLOAD_MODE/);
    const s = loadSettings({ ORCHARD_STORAGE: 's3', S3_BUCKET: 'b', S3_FORCE_PATH_STYLE: 'true', S3_ENDPOINT: 'http://127.0.0.1:9000' });
    expect(s.storage).toMatchObject({ kind: 's3', bucket: 'b', forcePathStyle: true, endpoint: 'http://127.0.0.1:9000' });
  });

  it('parses upstreams in priority order, moving credentials out of the URL', () => {
    const s = loadSettings({
      ORCHARD_UPSTREAMS: 'private=https://ci:s3cret@pkgs.example.com/simple pypi=https://pypi.org/simple/',
      ORCHARD_UPSTREAM_PYPI_TOKEN: 'tok',
    });
    expect(s.upstreams.map((u) => [u.name, u.url, u.priority])).toEqual([
      ['private', 'https://pkgs.example.com/simple/', 10],
      ['pypi', 'https://pypi.org/simple/', 20],
    ]);
    expect(s.upstreams[0]!.auth).toEqual({ type: 'basic', username: 'ci', password: 's3cret' });
    expect(s.upstreams[1]!.auth).toEqual({ type: 'bearer', token: 'tok' });
  });

  it('never echoes upstream credentials in its errors', () => {
    expect(() => loadSettings({ ORCHARD_UPSTREAMS: 'https://ci:s3cret@pkgs.example.com/simple' })).toThrow(/ORCHARD_UPSTREAMS/);
    try {
      loadSettings({ ORCHARD_UPSTREAMS: 'https://ci:s3cret@pkgs.example.com/simple' });
    } catch (err) {
      expect((err as Error).message).not.toContain('s3cret');
    }
    expect(() => loadSettings({ ORCHARD_UPSTREAMS: 'a=ftp://x/ b=https://y/' })).toThrow(/http or https/);
    expect(() => loadSettings({ ORCHARD_UPSTREAMS: 'a=https://x/ a=https://y/' })).toThrow(/listed twice/);
  });

  it('puts the cache in REDIS_URL unless ORCHARD_CACHE_REDIS_URL names another Redis', () => {
    expect(loadSettings({ REDIS_URL: 'redis://queue:6379/0' }).cacheRedisUrl).toBe('redis://queue:6379/0');
    const split = loadSettings({ REDIS_URL: 'redis://queue:6379/0', ORCHARD_CACHE_REDIS_URL: 'redis://cache:6379/1' });
    expect([split.redisUrl, split.cacheRedisUrl]).toEqual(['redis://queue:6379/0', 'redis://cache:6379/1']);
    expect(() => loadSettings({ ORCHARD_CACHE_REDIS_URL: 'http://cache/' })).toThrow(/ORCHARD_CACHE_REDIS_URL/);
  });

  it('refuses a short admin token', () => {
    expect(() => loadSettings({ ORCHARD_ADMIN_TOKEN: 'short' })).toThrow(/ORCHARD_ADMIN_TOKEN/);
  });

  it('reads the private-network deny rule and its exemptions, refusing malformed entries', () => {
    expect(loadSettings({}).upstreamHttp).toMatchObject({ denyPrivateNetworks: false, allowedHosts: [] });
    const settings = loadSettings({ ORCHARD_DENY_PRIVATE_NETWORKS: 'true', ORCHARD_ALLOWED_HOSTS: 'pypi.internal, 10.0.0.0/8 fd00::/8 192.168.1.7' });
    expect(settings.upstreamHttp).toMatchObject({ denyPrivateNetworks: true, allowedHosts: ['pypi.internal', '10.0.0.0/8', 'fd00::/8', '192.168.1.7'] });
    for (const bad of ['10.0.0.0/33', 'http://x/', 'a/b/c', 'host name']) {
      expect(() => loadSettings({ ORCHARD_ALLOWED_HOSTS: bad.replace(' ', '_') })).toThrow(/ORCHARD_ALLOWED_HOSTS/);
    }
  });
});
