/**
 * Upstream credentials (basic in ORCHARD_UPSTREAMS, bearer through the admin API and the
 * environment) go only to their upstream's origin — never to the file host it redirects to — and
 * appear in no response, no log line and no metric, after real installs and failures.
 */
import { mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { runPip } from '../support/pip.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { get, waitFor } from './helpers.js';

const ADMIN = 'admin-token-credentials-test-5d1e';
const BASIC_PASSWORD = 'basic-pw-a8f3c2e1d0';
const BEARER_TOKEN = 'bearer-token-4b9e7d2c';
const BROKEN_TOKEN = 'broken-token-e5f6a7b8';
const basicHeader = `Basic ${Buffer.from(`ci:${BASIC_PASSWORD}`).toString('base64')}`;
/** Every form a secret could leak in. */
const SECRETS = [BASIC_PASSWORD, Buffer.from(`ci:${BASIC_PASSWORD}`).toString('base64'), BEARER_TOKEN, BROKEN_TOKEN, ADMIN];

describe('upstream credentials', () => {
  const basicIndex = new FakeUpstream();
  const fileHost = new FakeUpstream();
  const bearerIndex = new FakeUpstream();
  const brokenIndex = new FakeUpstream();
  let orchard: OrchardProcesses;
  /** Every response Orchard gave in this file: status, headers and body. */
  const seen: string[] = [];
  const record = async (url: string, init: RequestInit = {}) => {
    const res = await get(url, init);
    seen.push(`${url} ${res.status}\n${[...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${res.text}`);
    return res;
  };

  beforeAll(async () => {
    const basicLib = await buildWheel({ name: 'basic-lib', version: '1.0', requiresDist: ['bearer-lib'] });
    const bearerLib = await buildWheel({ name: 'bearer-lib', version: '1.0' });
    basicIndex.publish('basic-lib', { filename: basicLib.filename, bytes: basicLib.bytes, metadata: basicLib.metadata });
    fileHost.publish('basic-lib', { filename: basicLib.filename, bytes: basicLib.bytes });
    bearerIndex.publish('bearer-lib', { filename: bearerLib.filename, bytes: bearerLib.bytes, metadata: bearerLib.metadata });
    basicIndex.requiredAuthorization = basicHeader;
    bearerIndex.requiredAuthorization = `Bearer ${BEARER_TOKEN}`;
    brokenIndex.requiredAuthorization = 'Bearer something-else';
    for (const index of [basicIndex, fileHost, bearerIndex, brokenIndex]) await index.start();
    // The private index keeps its files on another host (like a CDN) and redirects there.
    basicIndex.fileFaults.set(basicLib.filename, { kind: 'redirect', location: fileHost.url.replace('/simple/', `/files/${basicLib.filename}`) });
    const withCredentials = basicIndex.url.replace('http://', `http://ci:${BASIC_PASSWORD}@`);
    orchard = await OrchardProcesses.start({
      upstreams: `basic=${withCredentials} broken=${brokenIndex.url}`,
      // The file host is another origin on loopback: exempt from the private-address refusal.
      env: { ORCHARD_UPSTREAM_BROKEN_TOKEN: BROKEN_TOKEN, ORCHARD_ADMIN_TOKEN: ADMIN, ORCHARD_LOG_LEVEL: 'debug', ORCHARD_ALLOWED_HOSTS: '127.0.0.1' },
    });
    const added = await record(`${orchard.gatewayUrl}/api/v1/admin/upstreams`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bearer', url: bearerIndex.url, priority: 15, auth: { type: 'bearer', token: BEARER_TOKEN } }),
    });
    expect(added.status).toBe(201);
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) console.log(orchard?.allLogs());
    await orchard?.stop();
    for (const index of [basicIndex, fileHost, bearerIndex, brokenIndex]) await index.stop();
  });

  it('installs from upstreams that need basic and bearer credentials, sending each only to its own origin', async () => {
    const target = await mkdtemp(path.join(os.tmpdir(), 'orchard-credentials-'));
    const pip = await runPip(['install', '--index-url', `${orchard.gatewayUrl}/simple/`, '--target', target, 'basic-lib']);
    expect(pip.code, pip.stderr).toBe(0);
    expect(await readdir(target)).toEqual(expect.arrayContaining(['basic_lib', 'bearer_lib']));

    expect(basicIndex.requests.length).toBeGreaterThan(0);
    expect(basicIndex.requests.every((r) => r.authorization === basicHeader)).toBe(true);
    expect(bearerIndex.requests.length).toBeGreaterThan(0);
    expect(bearerIndex.requests.every((r) => r.authorization === `Bearer ${BEARER_TOKEN}`)).toBe(true);
    // The file came from the file host the private index redirected to, without its credentials.
    expect(fileHost.fileRequests()).toHaveLength(1);
    expect(fileHost.requests.every((r) => r.authorization === undefined)).toBe(true);
    // The broken upstream (last) was never needed.
    expect(brokenIndex.requests).toHaveLength(0);
    // Both files extracted too, so every service has done (and logged) its part of the work.
    await waitFor(
      'both extract jobs',
      async () => {
        const metrics = (await get(`http://127.0.0.1:${orchard.ports.extractor}/metrics`)).text;
        const line = metrics.split('\n').find((l) => l.startsWith('orchard_jobs_total{') && l.includes('queue="extract"') && l.includes('outcome="completed"'));
        return line && Number(line.split(' ').at(-1)) >= 2 ? true : undefined;
      },
      30_000,
    );
  });

  it('fails with a reason but no credential when an upstream refuses them', async () => {
    const refused = await record(`${orchard.gatewayUrl}/simple/nowhere-lib/`);
    expect(refused.status).toBe(502);
    expect(refused.text).toMatch(/upstream broken answered 401/);
    expect(brokenIndex.requests[0]!.authorization).toBe(`Bearer ${BROKEN_TOKEN}`);
  });

  it('leaves no credential in any response, header, log line or metric', async () => {
    const g = orchard.gatewayUrl;
    for (const accept of ['text/html', 'application/vnd.pypi.simple.v1+json', 'application/vnd.pypi.simple.v1+html']) {
      for (const project of ['basic-lib', 'bearer-lib']) await record(`${g}/simple/${project}/`, { headers: { accept } });
      await record(`${g}/simple/`, { headers: { accept } });
    }
    for (const project of ['basic-lib', 'bearer-lib']) {
      const page = JSON.parse((await record(`${g}/simple/${project}/`, { headers: { accept: 'application/vnd.pypi.simple.v1+json' } })).text) as {
        files: Array<{ url: string }>;
      };
      for (const file of page.files) {
        const url = new URL(file.url, `${g}/simple/${project}/`).toString();
        await record(url);
        await record(url, { method: 'HEAD' });
        await record(`${url}.metadata`);
      }
      await record(`${g}/api/v1/admin/cache/projects/${project}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    }
    await record(`${g}/api/v1/admin/upstreams`, { headers: { authorization: `Bearer ${ADMIN}` } });
    await record(`${g}/api/v1/admin/upstreams/basic`, { headers: { authorization: `Bearer ${ADMIN}` } });
    await record(`${g}/api/v1/admin/upstreams/bearer`, { headers: { authorization: `Bearer ${ADMIN}` } });
    await record(`${g}/api/v1/admin/upstreams`, { headers: { authorization: 'Bearer wrong' } });
    await record(`${g}/api/v1/admin/upstreams`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'leaky', url: `https://ci:${BASIC_PASSWORD}@leaky.example/simple/` }),
    });
    for (const service of ['gateway', 'fetcher', 'extractor'] as const) {
      const base = `http://127.0.0.1:${orchard.ports[service]}`;
      for (const pathname of ['/metrics', '/ready', '/health']) await record(`${base}${pathname}`);
    }
    expect(seen.length).toBeGreaterThan(30);
    const responses = seen.join('\n');
    // Sanity: the haystacks are real (pages, metrics with upstream labels, request logs).
    expect(responses).toContain('orchard_upstream_requests_total');
    expect(responses).toContain('upstream="basic"');
    const logs = orchard.allLogs();
    expect(logs).toContain('"msg":"file fetched and verified"');
    for (const secret of SECRETS) {
      expect(responses.includes(secret), `a response contains ${secret}`).toBe(false);
      expect(logs.includes(secret), `a log line contains ${secret}`).toBe(false);
    }
  });
});
