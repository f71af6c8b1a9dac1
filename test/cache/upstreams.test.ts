/**
 * Several upstreams: the first (by priority) that has a project owns it entirely (dependency
 * confusion safe), a failing upstream stops the search instead of falling through, and upstreams
 * added or removed through the admin API take effect on every gateway replica within a short time.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel, type BuiltDist } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { runPip } from '../support/pip.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { fileUrl, get, sha256, waitFor } from './helpers.js';

const ADMIN = 'admin-token-for-upstream-tests';
const PRIVATE_TOKEN = 'private-index-token-7f3a';
const INTERNAL_PASSWORD = 'internal-index-password-91c2';

describe('several upstreams', () => {
  const privateIndex = new FakeUpstream();
  const publicIndex = new FakeUpstream();
  const internalIndex = new FakeUpstream();
  let orchard: OrchardProcesses;
  let replica: string;
  let corpPrivate: BuiltDist;
  let corpPublic: BuiltDist;
  let pubOnly: BuiltDist;
  let pubOnlyInternal: BuiltDist;
  let pubOnlyInternalNext: BuiltDist;
  const gateways = () => [orchard.gatewayUrl, replica];
  const admin = (method: string, pathname: string, body?: unknown) =>
    get(`${orchard.gatewayUrl}/api/v1/admin${pathname}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });

  beforeAll(async () => {
    corpPrivate = await buildWheel({ name: 'corp-lib', version: '1.0', files: { 'corp_lib/__init__.py': 'ORIGIN = "private"\n' } });
    corpPublic = await buildWheel({ name: 'corp-lib', version: '99.0', files: { 'corp_lib/__init__.py': 'ORIGIN = "public"\n' } });
    pubOnly = await buildWheel({ name: 'pub-only', version: '1.0' });
    pubOnlyInternal = await buildWheel({ name: 'pub-only', version: '1.0', summary: 'the internal build' });
    pubOnlyInternalNext = await buildWheel({ name: 'pub-only', version: '1.1', summary: 'the internal build' });
    privateIndex.publish('corp-lib', { filename: corpPrivate.filename, bytes: corpPrivate.bytes });
    publicIndex.publish('corp-lib', { filename: corpPublic.filename, bytes: corpPublic.bytes });
    publicIndex.publish('pub-only', { filename: pubOnly.filename, bytes: pubOnly.bytes });
    const fallthrough = await buildWheel({ name: 'fallthrough-lib', version: '1.0' });
    publicIndex.publish('fallthrough-lib', { filename: fallthrough.filename, bytes: fallthrough.bytes });
    internalIndex.publish('pub-only', { filename: pubOnlyInternal.filename, bytes: pubOnlyInternal.bytes });
    internalIndex.publish('pub-only', { filename: pubOnlyInternalNext.filename, bytes: pubOnlyInternalNext.bytes });
    privateIndex.requiredAuthorization = `Bearer ${PRIVATE_TOKEN}`;
    internalIndex.requiredAuthorization = `Basic ${Buffer.from(`ci:${INTERNAL_PASSWORD}`).toString('base64')}`;
    for (const index of [privateIndex, publicIndex, internalIndex]) await index.start();
    orchard = await OrchardProcesses.start({
      upstreams: `private=${privateIndex.url} public=${publicIndex.url}`,
      services: ['gateway', 'fetcher'],
      env: { ORCHARD_UPSTREAM_PRIVATE_TOKEN: PRIVATE_TOKEN, ORCHARD_ADMIN_TOKEN: ADMIN, ORCHARD_INDEX_TTL: '1' },
    });
    replica = await orchard.startGatewayReplica();
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) console.log(orchard?.allLogs());
    await orchard?.stop();
    for (const index of [privateIndex, publicIndex, internalIndex]) await index.stop();
  });

  it('gives a name both publish to the higher-priority upstream, entirely: its page, its files, its install', async () => {
    const page = await get(`${orchard.gatewayUrl}/simple/corp-lib/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('x-orchard-upstream')).toBe('private');
    expect(page.text).toContain(corpPrivate.filename);
    expect(page.text).not.toContain(corpPublic.filename);
    expect(page.text).not.toContain(corpPublic.sha256);
    expect(publicIndex.requestsFor('/simple/corp-lib/')).toHaveLength(0);

    // The public file is not listed, so Orchard will not fetch it even when asked by id.
    const publicFile = await get(fileUrl(orchard.gatewayUrl, 'corp-lib', corpPublic.sha256, corpPublic.filename));
    expect(publicFile.status).toBe(404);

    const target = await mkdtemp(path.join(os.tmpdir(), 'orchard-upstreams-'));
    const pip = await runPip(['install', '--index-url', `${replica}/simple/`, '--target', target, 'corp-lib']);
    expect(pip.code, pip.stderr).toBe(0);
    expect(await readFile(path.join(target, 'corp_lib', '__init__.py'), 'utf8')).toContain('"private"');
    expect(publicIndex.requests.filter((r) => r.path.includes('corp'))).toHaveLength(0);
    // The private index saw Orchard's token on every request (it refuses requests without it).
    expect(privateIndex.requests.every((r) => r.authorization === `Bearer ${PRIVATE_TOKEN}`)).toBe(true);
  });

  it('serves a name only a lower-priority upstream has from that upstream', async () => {
    const page = await get(`${orchard.gatewayUrl}/simple/pub-only/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('x-orchard-upstream')).toBe('public');
    expect(privateIndex.requestsFor('/simple/pub-only/')).toHaveLength(1);
    // Public requests never carry the private upstream's token.
    expect(publicIndex.requests.every((r) => r.authorization === undefined)).toBe(true);
  });

  it('never falls through to the public upstream while the private one fails', async () => {
    privateIndex.mode = 'fail';
    try {
      const cold = await get(`${orchard.gatewayUrl}/simple/fallthrough-lib/`);
      expect(cold.status).toBe(502);
      expect(cold.text).toMatch(/upstream private answered 500/);
      expect(publicIndex.requestsFor('/simple/fallthrough-lib/')).toHaveLength(0);

      // A cached page of the private upstream is served stale, never replaced by the public one.
      const stale = await waitFor('stale-error', async () => {
        const r = await get(`${replica}/simple/corp-lib/`);
        expect(r.status).toBe(200);
        expect(r.headers.get('x-orchard-upstream')).toBe('private');
        return r.headers.get('x-orchard-cache') === 'stale-error' ? r : undefined;
      });
      expect(stale.text).toContain(corpPrivate.filename);
      expect(publicIndex.requestsFor('/simple/corp-lib/')).toHaveLength(0);
    } finally {
      privateIndex.mode = 'ok';
    }
  });

  it('puts an upstream added through the admin API in front on every replica within seconds, and drops it again when removed', async () => {
    const added = await admin('POST', '/upstreams', {
      name: 'internal',
      url: internalIndex.url,
      priority: 1,
      auth: { type: 'basic', username: 'ci', password: INTERNAL_PASSWORD },
    });
    expect(added.status).toBe(201);
    expect(added.text).not.toContain(INTERNAL_PASSWORD);

    for (const gateway of gateways()) {
      const page = await waitFor(
        `internal owning pub-only on ${gateway}`,
        async () => {
          const r = await get(`${gateway}/simple/pub-only/`);
          return r.headers.get('x-orchard-upstream') === 'internal' ? r : undefined;
        },
        10_000,
      );
      expect(page.text).toContain(pubOnlyInternal.sha256);
      expect(page.text).not.toContain(pubOnly.sha256);
    }
    // The fetcher uses the same registry: it downloads with the internal upstream's credentials.
    const file = await get(fileUrl(replica, 'pub-only', pubOnlyInternal.sha256, pubOnlyInternal.filename));
    expect(file.status).toBe(200);
    expect(sha256(file.body)).toBe(pubOnlyInternal.sha256);
    expect(internalIndex.requestsFor(`/files/${pubOnlyInternal.filename}`).length).toBeGreaterThanOrEqual(1);
    expect(internalIndex.requests.every((r) => r.authorization === internalIndex.requiredAuthorization)).toBe(true);
    // The public build, listed by the page the change replaced, is no longer fetchable.
    expect((await get(fileUrl(orchard.gatewayUrl, 'pub-only', pubOnly.sha256, pubOnly.filename))).status).toBe(404);

    const list = await admin('GET', '/upstreams');
    const listed = (JSON.parse(list.text) as { upstreams: Array<{ name: string; protocol: string }> }).upstreams;
    expect(listed.filter((u) => u.protocol === 'pypi').map((u) => u.name)).toEqual(['internal', 'private', 'public']);
    // npm's upstreams are listed too (here its default registry), after PyPI's.
    expect(listed.filter((u) => u.protocol !== 'pypi').map((u) => [u.protocol, u.name])).toEqual([['npm', 'npmjs']]);
    expect(list.text).not.toContain(INTERNAL_PASSWORD);
    expect(list.text).not.toContain(PRIVATE_TOKEN);

    expect((await admin('DELETE', '/upstreams/internal')).status).toBe(204);
    for (const gateway of gateways()) {
      await waitFor(
        `public owning pub-only again on ${gateway}`,
        async () => {
          const r = await get(`${gateway}/simple/pub-only/`);
          return r.headers.get('x-orchard-upstream') === 'public' ? r : undefined;
        },
        10_000,
      );
    }
    // A file of the removed upstream that was never fetched is no longer listed: 404, and the
    // removed upstream is not asked. (One already cached stays servable: it is verified content.)
    const internalRequests = internalIndex.requests.length;
    for (const gateway of gateways()) {
      expect((await get(fileUrl(gateway, 'pub-only', pubOnlyInternalNext.sha256, pubOnlyInternalNext.filename))).status).toBe(404);
    }
    expect(internalIndex.requests).toHaveLength(internalRequests);
  });

  it('reports and invalidates a project’s cached page through the admin API', async () => {
    await get(`${orchard.gatewayUrl}/simple/corp-lib/`);
    const state = await admin('GET', '/cache/projects/corp-lib');
    expect(JSON.parse(state.text)).toMatchObject({ project: 'corp-lib', upstream: 'private', files: { listed: 1, cached: 1 } });
    expect((await admin('DELETE', '/cache/pages/corp-lib')).status).toBe(200);
    expect(JSON.parse((await admin('GET', '/cache/projects/corp-lib')).text)).toMatchObject({ state: 'uncached' });
    const before = privateIndex.requestsFor('/simple/corp-lib/').length;
    const refilled = await get(`${replica}/simple/corp-lib/`);
    expect(refilled.headers.get('x-orchard-cache')).toBe('miss');
    expect(privateIndex.requestsFor('/simple/corp-lib/')).toHaveLength(before + 1);
  });
});
