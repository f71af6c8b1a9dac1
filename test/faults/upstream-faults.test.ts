/**
 * Upstream faults: the upstream refuses connections, hangs, answers 500, truncates a file, serves
 * bytes that differ from the published hash, answers a malformed page. Warm installs keep working
 * (real pip, from Orchard's cache); cold ones fail with a clear error; nothing wrong is stored.
 */
import { mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel, type BuiltDist } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { runPip } from '../support/pip.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { artifactRows, getText, listFiles, query, sleep, storedBlobs, waitFor } from './support/helpers.js';

describe('upstream faults', () => {
  const upstream = new FakeUpstream();
  let orchard: OrchardProcesses;
  const dists = new Map<string, BuiltDist>();

  async function pip(project: string) {
    const target = await mkdtemp(path.join(os.tmpdir(), 'orchard-faults-pip-'));
    // -vv: pip reports an index page's HTTP error (502, 504) only in its debug output.
    const result = await runPip(['install', '-vv', '--retries', '0', '--timeout', '30', '--index-url', `${orchard.gatewayUrl}/simple/`, '--target', target, project], {
      timeoutMs: 90_000,
    });
    return { ...result, output: result.stdout + result.stderr, installed: result.code === 0 ? await readdir(target) : [] };
  }

  async function fileUrl(project: string): Promise<string> {
    const page = await getText(`${orchard.gatewayUrl}/simple/${project}/`, { headers: { accept: 'application/vnd.pypi.simple.v1+json' } });
    expect(page.status, page.text).toBe(200);
    const file = (JSON.parse(page.text) as { files: Array<{ url: string }> }).files[0]!;
    return new URL(file.url, `${orchard.gatewayUrl}/simple/${project}/`).toString();
  }

  beforeAll(async () => {
    for (const name of ['warm', 'cold-refused', 'cold-timeout', 'cold-500', 'trunc', 'tamper']) {
      const wheel = await buildWheel({ name, version: '1.0.0', padBytes: name === 'trunc' ? 256 * 1024 : 0 });
      dists.set(name, wheel);
      upstream.publish(name, { filename: wheel.filename, bytes: wheel.bytes });
    }
    upstream.tampered.add(dists.get('tamper')!.filename);
    upstream.fileFaults.set(dists.get('trunc')!.filename, { kind: 'truncate', atBytes: 100 * 1024 });
    upstream.pageOverrides.set('malformed-html', { contentType: 'text/html', body: Buffer.from([0x3c, 0x00, 0xff, 0xfe, 0x00, 0x41]) });
    upstream.pageOverrides.set('malformed-json', {
      contentType: 'application/vnd.pypi.simple.v1+json',
      body: '{"meta": {"api-version": "1.0"}, "name": "malformed-json", "files": [',
    });
    upstream.pageOverrides.set('wrong-shape', { contentType: 'application/vnd.pypi.simple.v1+json', body: '{"meta": {"api-version": "1.0"}, "name": 7, "files": {}}' });
    await upstream.start();
    orchard = await OrchardProcesses.start({
      upstreams: `local=${upstream.url}`,
      services: ['gateway', 'fetcher'],
      env: {
        // Pages turn stale after 2 s: warm installs below are served stale while revalidation fails.
        ORCHARD_INDEX_TTL: '2',
        ORCHARD_UPSTREAM_CONNECT_TIMEOUT_MS: '2000',
        ORCHARD_UPSTREAM_READ_TIMEOUT_MS: '2000',
        ORCHARD_FETCH_WAIT_MS: '4000',
      },
    });
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    await orchard?.stop();
    await upstream.stop();
  });

  it('installs a project while the upstream is healthy (the cache is now warm)', async () => {
    const result = await pip('warm');
    expect(result.code, result.output).toBe(0);
    expect(result.installed).toContain('warm');
    await waitFor('the artifact row', async () => ((await artifactRows(orchard.database.url, dists.get('warm')!.sha256)).length === 1 ? true : undefined));
  });

  it('upstream refuses connections: the warm install works from cache, a cold one fails with 502 and the reason', async () => {
    await upstream.stop();
    try {
      await sleep(2_100); // the warm page is stale now: served at once, revalidated in the background
      const warm = await pip('warm');
      expect(warm.code, warm.output).toBe(0);
      const cold = await pip('cold-refused');
      expect(cold.code).not.toBe(0);
      expect(cold.output).toMatch(/502|Bad Gateway/);
      const page = await getText(`${orchard.gatewayUrl}/simple/cold-refused/`);
      expect(page.status).toBe(502);
      expect(page.text).toMatch(/upstream local is unreachable/);
    } finally {
      await upstream.start();
    }
  });

  it('upstream hangs: the warm install works, a cold page fails with 504 after the read timeout', async () => {
    upstream.mode = 'hang';
    try {
      await sleep(2_100);
      const warm = await pip('warm');
      expect(warm.code, warm.output).toBe(0);
      const started = Date.now();
      const page = await getText(`${orchard.gatewayUrl}/simple/cold-timeout/`);
      expect(page.status).toBe(504);
      expect(page.text).toMatch(/timed out/);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      upstream.mode = 'ok';
    }
  });

  it('upstream answers 500: the warm install works, a cold one fails with 502 naming the status', async () => {
    upstream.mode = 'fail';
    try {
      await sleep(2_100);
      const warm = await pip('warm');
      expect(warm.code, warm.output).toBe(0);
      const cold = await pip('cold-500');
      expect(cold.code).not.toBe(0);
      expect(cold.output).toMatch(/502|Bad Gateway/);
      const page = await getText(`${orchard.gatewayUrl}/simple/cold-500/`);
      expect(page.status).toBe(502);
      expect(page.text).toMatch(/answered 500/);
    } finally {
      upstream.mode = 'ok';
    }
  });

  it('upstream truncates a file mid-body: the client gets an error, never a short file, and nothing is stored', async () => {
    const trunc = dists.get('trunc')!;
    const url = await fileUrl('trunc');
    // The fetch job fails (and retries); after ORCHARD_FETCH_WAIT_MS the gateway streams from the
    // upstream, which truncates again: the client must see a broken transfer or an error status.
    const outcome = await fetch(url, { signal: AbortSignal.timeout(30_000) }).then(
      async (res) => {
        try {
          const bytes = Buffer.from(await res.arrayBuffer());
          return { status: res.status, length: bytes.length };
        } catch (err) {
          return { status: res.status, broken: String(err) };
        }
      },
      (err: unknown) => ({ status: 0, broken: String(err) }),
    );
    if (outcome.status === 200) expect(outcome).toHaveProperty('broken');
    else expect(outcome.status).toBe(502);
    const pipResult = await pip('trunc');
    expect(pipResult.code).not.toBe(0);
    expect(await storedBlobs(orchard.dataDir)).not.toContain(trunc.sha256);
    expect(await artifactRows(orchard.database.url, trunc.sha256)).toHaveLength(0);
  });

  it('upstream serves bytes that differ from the published hash: 502 with the reason, nothing stored', async () => {
    const tamper = dists.get('tamper')!;
    const res = await getText(await fileUrl('tamper'));
    expect(res.status).toBe(502);
    expect(res.text).toMatch(/does not match its published sha256/);
    // The hash of what was actually received stays in the log: it would tell what answered there.
    expect(res.text).not.toMatch(/[0-9a-f]{64}/);
    const cold = await pip('tamper');
    expect(cold.code).not.toBe(0);
    expect(await storedBlobs(orchard.dataDir)).not.toContain(tamper.sha256);
    expect(await artifactRows(orchard.database.url, tamper.sha256)).toHaveLength(0);
  });

  it('upstream answers malformed pages: 502 with the reason (never a 500), pip fails clearly', async () => {
    for (const project of ['malformed-html', 'malformed-json', 'wrong-shape']) {
      const page = await getText(`${orchard.gatewayUrl}/simple/${project}/`);
      expect(page.status, `${project}: ${page.text}`).toBe(502);
      expect(page.text).toMatch(/malformed index page/);
      expect(page.text.length).toBeLessThan(400);
    }
    const result = await pip('malformed-json');
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/502|Bad Gateway/);
    // The gateway is still healthy, and still serves the warm project.
    expect((await getText(`${orchard.gatewayUrl}/health`)).status).toBe(200);
    expect((await pip('warm')).code).toBe(0);
  });

  it('stored only what was verified: one blob, one artifact row, no half-written file left behind', async () => {
    // Let the truncated file's retries run out (1 + 2 + 4 + 8 s of backoff) before looking.
    await waitFor(
      'the truncated file to stop being retried',
      async () =>
        (await getText(`${orchard.gatewayUrl}/files/trunc/${dists.get('trunc')!.sha256}/${dists.get('trunc')!.filename}`, { timeoutMs: 10_000 })).status === 502 ? true : undefined,
      40_000,
      1_000,
    );
    expect(await storedBlobs(orchard.dataDir)).toEqual([dists.get('warm')!.sha256]);
    // A retry still writing has a temp file of its own; once it fails, nothing is left behind.
    await waitFor('no temp file left', async () => ((await listFiles(path.join(orchard.dataDir, '.tmp'))).length === 0 ? true : undefined), 30_000, 200);
    const rows = await query<{ sha256: string }>(orchard.database.url, 'SELECT sha256 FROM artifact ORDER BY sha256');
    expect(rows.map((r) => r.sha256)).toEqual([dists.get('warm')!.sha256]);
    expect(orchard.children.get('gateway')?.exitCode).toBeNull();
    expect(orchard.children.get('fetcher')?.exitCode).toBeNull();
  });
});
