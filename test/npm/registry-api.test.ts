import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, waitFor, type RawResponse } from '../api/http.js';
import { NpmRegistry, type NpmVersion } from '../support/npm-registry.js';
import { startNpmOrchard, orchardId, type NpmOrchard } from './helpers.js';

/** What npm 11 and pnpm ask packuments in. */
const NPM_ACCEPT = 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*';
const ABBREVIATED = 'application/vnd.npm.install-v1+json';
const TOKEN = 'corp-registry-token-7f3a9c';
const ADMIN_TOKEN = 'admin-token-for-the-npm-tests';

interface FullPackument {
  name: string;
  'dist-tags': Record<string, string>;
  time: Record<string, string>;
  versions: Record<string, { description?: string; deprecated?: string; dist: { tarball: string; integrity: string; shasum: string } }>;
}

function json<T>(response: RawResponse): T {
  return JSON.parse(response.body.toString('utf8')) as T;
}

/**
 * The npm registry API as a client sees it, beyond what installs exercise: both packument forms,
 * scoped names in every spelling, npm's error shape, HTTP semantics of tarballs, a tarball no
 * packument lists, a private registry's ownership and credentials, and stale serving when every
 * registry is down.
 */
describe('the npm registry API', () => {
  const corp = new NpmRegistry();
  const publicRegistry = new NpmRegistry();
  let npm: NpmOrchard;
  let base: string;
  let plain: NpmVersion;
  let widget: NpmVersion;

  beforeAll(async () => {
    corp.requiredToken = TOKEN;
    await publicRegistry.publish({ name: 'plain-pkg', version: '1.0.0', description: 'the first' });
    plain = await publicRegistry.publish(
      { name: 'plain-pkg', version: '1.1.0', description: 'the second', deprecated: 'use 2.x', license: 'MIT' },
      { 'index.js': 'x'.repeat(4000) },
    );
    await publicRegistry.publish({ name: 'plain-pkg', version: '2.0.0-beta.1' });
    publicRegistry.distTags.set('plain-pkg', { next: '2.0.0-beta.1' });
    // Dependency confusion: the public registry also publishes the private scope's name.
    await publicRegistry.publish({ name: '@acme/widget', version: '9.9.9' });
    widget = await corp.publish({ name: '@acme/widget', version: '1.0.0', dependencies: { 'plain-pkg': '^1.0.0' }, peerDependencies: { react: '>=18' } });
    await corp.start();
    await publicRegistry.start();
    npm = await startNpmOrchard(publicRegistry, {
      ORCHARD_NPM_UPSTREAMS: `corp=${corp.url} public=${publicRegistry.url}`,
      ORCHARD_UPSTREAM_CORP_TOKEN: TOKEN,
      // Pages turn stale within seconds, for the stale-if-error case at the end.
      ORCHARD_INDEX_TTL: '2',
      ORCHARD_ADMIN_TOKEN: ADMIN_TOKEN,
    });
    base = npm.npmUrl.slice(0, -1);
  });

  afterAll(async () => {
    await npm?.stop();
    await corp.stop();
    await publicRegistry.stop();
  });

  it('serves the full packument with every field kept and tarball URLs rewritten to Orchard', async () => {
    const response = await request(`${base}/plain-pkg`, { headers: { accept: 'application/json' } });
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/json');
    expect(response.headers['x-orchard-upstream']).toBe('public');
    const body = json<FullPackument>(response);
    expect(body.name).toBe('plain-pkg');
    expect(body['dist-tags']).toEqual({ latest: '1.1.0', next: '2.0.0-beta.1' });
    expect(Object.keys(body.versions)).toEqual(['1.0.0', '1.1.0', '2.0.0-beta.1']);
    expect(body.time['1.1.0']).toBe(plain.publishedAt.toISOString());
    expect(body.versions['1.1.0']).toMatchObject({ description: 'the second', deprecated: 'use 2.x' });
    expect(body.versions['1.1.0']!.dist).toEqual({
      tarball: `${base}/-/files/plain-pkg/${orchardId(plain)}/plain-pkg-1.1.0.tgz`,
      integrity: plain.integrity,
      shasum: plain.shasum,
    });
  });

  it('serves the abbreviated packument npm and pnpm ask for, and the full one on request', async () => {
    const abbreviated = await request(`${base}/plain-pkg`, { headers: { accept: NPM_ACCEPT } });
    expect(abbreviated.status).toBe(200);
    expect(abbreviated.headers['content-type']).toBe(ABBREVIATED);
    expect(abbreviated.headers.vary).toBe('Accept, Accept-Encoding');
    const body = json<FullPackument & { modified: string }>(abbreviated);
    expect(body.modified).toBeDefined();
    expect(body).not.toHaveProperty('time');
    expect(body.versions['1.1.0']).toMatchObject({ deprecated: 'use 2.x', dist: { integrity: plain.integrity } });
    expect(body.versions['1.1.0']).not.toHaveProperty('description');
    // The two forms are two representations: their ETags differ.
    const full = await request(`${base}/plain-pkg?format=full`, { headers: { accept: NPM_ACCEPT } });
    expect(full.headers['content-type']).toBe('application/json');
    expect(full.headers.etag).not.toBe(abbreviated.headers.etag);
    const again = await request(`${base}/plain-pkg`, { headers: { accept: NPM_ACCEPT, 'if-none-match': abbreviated.headers.etag! } });
    expect(again.status).toBe(304);
  });

  it('serves a scoped package under each spelling, from the registry that owns the name (no dependency confusion)', async () => {
    const spellings = [`${base}/@acme/widget`, `${base}/@acme%2fwidget`, `${base}/@acme%2Fwidget`];
    const bodies: string[] = [];
    for (const url of spellings) {
      const response = await request(url, { headers: { accept: 'application/json' } });
      expect(response.status, url).toBe(200);
      expect(response.headers['x-orchard-upstream']).toBe('corp');
      bodies.push(response.body.toString('utf8'));
    }
    expect(new Set(bodies).size).toBe(1);
    const body = JSON.parse(bodies[0]!) as FullPackument;
    // The public registry's 9.9.9 never appears: the first registry that has a name owns it.
    expect(Object.keys(body.versions)).toEqual(['1.0.0']);
    expect(body.versions['1.0.0']!.dist.tarball).toBe(`${base}/-/files/@acme%2Fwidget/${orchardId(widget)}/widget-1.0.0.tgz`);
    const tarball = await request(body.versions['1.0.0']!.dist.tarball);
    expect(tarball.status).toBe(200);
    expect(createHash('sha512').update(tarball.body).digest('hex')).toBe(widget.sha512);
  });

  it('sends the private registry its token, never anyone else, and never shows it', async () => {
    expect(corp.requests.length).toBeGreaterThan(0);
    expect(corp.requests.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(publicRegistry.requests.every((r) => r.authorization === undefined)).toBe(true);
    for (const url of [`${base}/@acme/widget`, `${npm.orchard.gatewayUrl}/ready`, `${npm.orchard.gatewayUrl}/metrics`]) {
      expect((await request(url)).body.toString('utf8'), url).not.toContain(TOKEN);
    }
    expect(npm.orchard.allLogs()).not.toContain(TOKEN);
  });

  it('serves tarballs with ETag/304, HEAD and byte ranges, after one upstream download', async () => {
    const url = `${base}/-/files/plain-pkg/${orchardId(plain)}/plain-pkg-1.1.0.tgz`;
    const whole = await request(url);
    expect(whole.status).toBe(200);
    expect(whole.body.equals(plain.tarball)).toBe(true);
    expect(whole.headers.etag).toBe(`"${orchardId(plain)}"`);
    expect((await request(url, { headers: { 'if-none-match': whole.headers.etag! } })).status).toBe(304);
    const head = await request(url, { method: 'HEAD' });
    expect([head.status, head.headers['content-length'], head.body.length]).toEqual([200, String(plain.tarball.length), 0]);
    const range = await request(url, { headers: { range: 'bytes=10-19' } });
    expect(range.status).toBe(206);
    expect(range.body.equals(plain.tarball.subarray(10, 20))).toBe(true);
    expect(publicRegistry.tarballRequestCounts().get('plain-pkg@1.1.0')).toBe(1);
  });

  it("answers errors in npm's JSON shape and fetches nothing it was not asked for by a listing", async () => {
    const before = publicRegistry.requests.length + corp.requests.length;
    const unknownId = 'ab'.repeat(32);
    const unlisted = await request(`${base}/-/files/plain-pkg/${unknownId}/plain-pkg-1.1.0.tgz`);
    expect(unlisted.status).toBe(404);
    expect(unlisted.headers['content-type']).toBe('application/json');
    expect(json<{ error: string }>(unlisted).error).toMatch(/not listed for plain-pkg/);
    // The listing was fresh: neither registry was asked anything.
    expect(publicRegistry.requests.length + corp.requests.length).toBe(before);

    const missing = await request(`${base}/no-such-package`);
    expect(missing.status).toBe(404);
    expect(json<{ error: string }>(missing).error).toMatch(/no-such-package not found/);
    for (const bad of [`${base}/Bad%20Name`, `${base}/..%2f..%2fetc`, `${base}/@scope%2f`]) {
      const response = await request(bad);
      expect(response.status, bad).toBe(400);
      expect(json<{ error: string }>(response).error).toBe('invalid package name');
    }
    const publish = await request(`${base}/plain-pkg`, { method: 'PUT' });
    expect(publish.status).toBe(405);
    expect(json<{ error: string }>(publish).error).toMatch(/read-only proxy/);
    expect(await request(`${base}/-/ping`)).toMatchObject({ status: 200 });
    expect((await request(`${base}/`)).status).toBe(404);
  });

  it('answers forward and reverse dependencies of npm packages through the JSON API', async () => {
    const api = `${npm.orchard.gatewayUrl}/api/v1/npm/projects`;
    const forward = await waitFor('the widget extracted', async () => {
      const response = await request(`${api}/@acme%2fwidget/versions/1.0.0/dependencies`);
      return response.status === 200 ? json<{ dependencies: Array<{ name: string; kind: string; specifier: string }> }>(response) : undefined;
    });
    expect(forward.dependencies.map((d) => [d.name, d.kind, d.specifier])).toEqual([
      ['plain-pkg', 'dependency', '^1.0.0'],
      ['react', 'peer', '>=18'],
    ]);
    const reverse = json<{ dependents: Array<{ project: string; version: string; kind: string }> }>(await request(`${api}/plain-pkg/dependents`));
    expect(reverse.dependents.map((d) => [d.project, d.version, d.kind])).toEqual([['@acme/widget', '1.0.0', 'dependency']]);
    // PyPI's API knows nothing of npm's packages.
    expect((await request(`${npm.orchard.gatewayUrl}/api/v1/projects/plain-pkg/dependents`)).body.toString()).toContain('"dependents":[]');
  });

  it('labels metrics with the protocol and reports the protocols in /ready', async () => {
    const ready = json<{ protocols: Record<string, { prefix: string; upstreams: string[] }> }>(await request(`${npm.orchard.gatewayUrl}/ready`));
    expect(ready.protocols).toEqual({ pypi: { prefix: '/', upstreams: ['pypi'] }, npm: { prefix: '/npm/', upstreams: ['corp', 'public'] } });
    const metrics = (await request(`${npm.orchard.gatewayUrl}/metrics`)).body.toString('utf8');
    expect(metrics).toMatch(/orchard_http_requests_total\{[^}]*protocol="npm",route="package",method="GET",status="200"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/orchard_http_requests_total\{[^}]*protocol="npm",route="file",method="GET",status="200"[^}]*\} [1-9]/);
  });

  it('manages npm upstreams and npm page caches through the admin API', async () => {
    const admin = (method: string, path: string, body?: unknown) =>
      fetch(`${npm.orchard.gatewayUrl}/api/v1/admin${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    const added = await admin('POST', '/upstreams', { name: 'mirror', protocol: 'npm', url: publicRegistry.url, priority: 500 });
    expect(added.status).toBe(201);
    const listed = ((await (await admin('GET', '/upstreams')).json()) as { upstreams: Array<{ name: string; protocol: string; source: string; active: boolean }> }).upstreams;
    expect(listed.filter((u) => u.protocol === 'npm').map((u) => [u.name, u.source, u.active])).toEqual([
      ['corp', 'environment', true],
      ['public', 'environment', true],
      ['mirror', 'database', true],
    ]);
    expect(listed.filter((u) => u.protocol === 'pypi').map((u) => u.name)).toEqual(['pypi']);
    expect((await admin('DELETE', '/upstreams/mirror')).status).toBe(204);
    expect((await admin('POST', '/upstreams', { name: 'x', protocol: 'cobol', url: publicRegistry.url })).status).toBe(400);

    await request(`${base}/plain-pkg`, { headers: { accept: NPM_ACCEPT } });
    const state = (await (await admin('GET', '/cache/projects/plain-pkg?protocol=npm')).json()) as { state: string; upstream: string; files: { listed: number; cached: number } };
    // Fresh, or stale already on a slow machine (ORCHARD_INDEX_TTL is 2 s here): cached either way.
    expect(state).toMatchObject({ state: expect.stringMatching(/^(fresh|stale)$/), upstream: 'public', files: { listed: 3, cached: 1 } });
    expect(await (await admin('GET', '/cache/projects/plain-pkg')).json()).toMatchObject({ state: 'uncached' });
    expect(await (await admin('GET', '/cache/projects/@acme%2fwidget?protocol=npm')).json()).toMatchObject({ upstream: 'corp' });
    expect(await (await admin('DELETE', '/cache/pages/plain-pkg?protocol=npm')).json()).toEqual({ project: 'plain-pkg', dropped: true });
    expect((await request(`${base}/plain-pkg`, { headers: { accept: NPM_ACCEPT } })).headers['x-orchard-cache']).toBe('miss');
    expect((await admin('GET', '/cache/projects/plain-pkg?protocol=cobol')).status).toBe(400);
  });

  it('serves the cached packument and tarball when every registry is down, saying how stale it is', async () => {
    await request(`${base}/plain-pkg`, { headers: { accept: NPM_ACCEPT } });
    await corp.stop();
    await publicRegistry.stop();
    // ORCHARD_INDEX_TTL is 2 s: past it, the page must be revalidated, and cannot be.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const page = await waitFor('a stale-error answer', async () => {
      const response = await request(`${base}/plain-pkg`, { headers: { accept: 'application/json' } });
      return response.headers['x-orchard-cache'] === 'stale-error' ? response : undefined;
    });
    expect(page.status).toBe(200);
    expect(Number(page.headers.age)).toBeGreaterThanOrEqual(2);
    const tarball = await request(json<FullPackument>(page).versions['1.1.0']!.dist.tarball);
    expect(tarball.status).toBe(200);
    expect(tarball.body.equals(plain.tarball)).toBe(true);
    // Never cached, so a clear npm-shaped error rather than a hang.
    const uncached = await request(`${base}/never-asked-before`);
    expect(uncached.status).toBe(502);
    expect(json<{ error: string }>(uncached).error).toMatch(/never-asked-before/);
  });
});
