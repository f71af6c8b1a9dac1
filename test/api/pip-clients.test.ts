/**
 * Real clients through the gateway: pip 23 (prefers PEP 691 JSON, reads PEP 658 metadata files)
 * and pip 22.0 on Python 3.7 (PEP 503 HTML only), each from an HTML-only and a JSON-only upstream;
 * yanked files behave as against PyPI.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { runPip } from '../support/pip.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { scrape, valueOf } from '../support/prometheus.js';

const PIP_23 = { python: 'python3', label: 'pip 23' };
const PIP_22 = { python: '/root/.pyenv/versions/3.7.16/bin/python3.7', label: 'pip 22.0' };
const CLIENTS = [PIP_23, PIP_22];

interface AccessLine {
  path: string;
  route: string;
  status: number;
  ua?: string;
}

describe('pip generations install through the gateway', () => {
  const htmlUp = new FakeUpstream();
  const jsonUp = new FakeUpstream();
  let orchard: OrchardProcesses;
  const index = () => `${orchard.gatewayUrl}/simple/`;
  const accessLog = (): AccessLine[] =>
    orchard.logs.gateway
      .split('\n')
      .filter((line) => line.includes('"msg":"request"'))
      .map((line) => JSON.parse(line) as AccessLine);

  beforeAll(async () => {
    htmlUp.format = 'html';
    jsonUp.format = 'json';
    for (const [up, p] of [
      [htmlUp, 'h'],
      [jsonUp, 'j'],
    ] as const) {
      const app = await buildWheel({ name: `${p}app`, version: '1.0', requiresDist: [`${p}lib>=1.0`] });
      const lib = await buildWheel({ name: `${p}lib`, version: '1.1' });
      const oldLib = await buildWheel({ name: `${p}lib`, version: '0.5' });
      // Upstream metadata files for the app and the library: pip 23 reads them instead of the wheels.
      up.publish(`${p}app`, { filename: app.filename, bytes: app.bytes, metadata: app.metadata });
      up.publish(`${p}lib`, { filename: oldLib.filename, bytes: oldLib.bytes, metadata: oldLib.metadata });
      up.publish(`${p}lib`, { filename: lib.filename, bytes: lib.bytes, metadata: lib.metadata });
      const yanked = await buildWheel({ name: `${p}yank`, version: '1.0' });
      up.publish(`${p}yank`, { filename: yanked.filename, bytes: yanked.bytes, yanked: 'broken build' });
      const mixedNew = await buildWheel({ name: `${p}mixed`, version: '1.0' });
      const mixedOld = await buildWheel({ name: `${p}mixed`, version: '0.9' });
      up.publish(`${p}mixed`, { filename: mixedOld.filename, bytes: mixedOld.bytes });
      up.publish(`${p}mixed`, { filename: mixedNew.filename, bytes: mixedNew.bytes, yanked: true });
    }
    await htmlUp.start();
    await jsonUp.start();
    orchard = await OrchardProcesses.start({ upstreams: `h=${htmlUp.url} j=${jsonUp.url}` });
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    await orchard?.stop();
    await htmlUp.stop();
    await jsonUp.stop();
  });

  it('uses the pip versions this test is about', () => {
    const version = (python: string) => execFileSync(python, ['-m', 'pip', '--version'], { encoding: 'utf8' });
    expect(version(PIP_23.python)).toMatch(/^pip 23\./);
    expect(version(PIP_22.python)).toMatch(/^pip 22\.0\./);
  });

  for (const client of CLIENTS) {
    for (const [upstreamKind, p] of [
      ['an HTML-only', 'h'],
      ['a JSON-only', 'j'],
    ] as const) {
      it(`${client.label} installs a project and its dependency from ${upstreamKind} upstream`, async () => {
        const target = await mkdtemp(path.join(os.tmpdir(), 'orchard-pip-'));
        const result = await runPip(['install', '--index-url', index(), '--target', target, `${p}app`], { python: client.python });
        expect(result.code, result.stderr + result.stdout).toBe(0);
        const installed = await readdir(target);
        expect(installed).toContain(`${p}app`);
        expect(installed).toContain(`${p}lib`);
        expect(installed).toContain(`${p}lib-1.1.dist-info`);
        const up = p === 'h' ? htmlUp : jsonUp;
        // Every upstream request came from Orchard, never from pip.
        expect(up.requests.length).toBeGreaterThan(0);
        expect(up.requests.every((r) => r.userAgent === 'orchard')).toBe(true);
        const ua = client === PIP_23 ? 'pip/23.' : 'pip/22.0';
        const pages = accessLog().filter((l) => l.ua?.startsWith(ua) && l.route === 'simple_project' && l.path === `/simple/${p}app/`);
        expect(pages.some((l) => l.status === 200)).toBe(true);
      });
    }
  }

  it('pip 23 read the wheels’ metadata through their .metadata files (gateway access log and /metrics)', () => {
    const metadata = accessLog().filter((l) => l.route === 'metadata' && l.status === 200 && l.ua?.startsWith('pip/23.'));
    const paths = metadata.map((l) => path.basename(l.path));
    expect(paths).toEqual(
      expect.arrayContaining([
        'happ-1.0-py3-none-any.whl.metadata',
        'hlib-1.1-py3-none-any.whl.metadata',
        'japp-1.0-py3-none-any.whl.metadata',
        'jlib-1.1-py3-none-any.whl.metadata',
      ]),
    );
    // pip 22.0 predates PEP 658: it never asks for them.
    expect(accessLog().some((l) => l.route === 'metadata' && l.ua?.startsWith('pip/22.'))).toBe(false);
  });

  it('counts the metadata requests under route="metadata" in /metrics', async () => {
    const metrics = await scrape(orchard.gatewayUrl);
    expect(valueOf(metrics, 'orchard_http_requests_total', { route: 'metadata', method: 'GET', status: '200' })).toBeGreaterThanOrEqual(4);
  });

  for (const client of CLIENTS) {
    for (const [upstreamKind, p] of [
      ['an HTML-only', 'h'],
      ['a JSON-only', 'j'],
    ] as const) {
      describe(`${client.label}, yanked files from ${upstreamKind} upstream (as against PyPI)`, () => {
        const download = async (requirement: string) => {
          const dest = await mkdtemp(path.join(os.tmpdir(), 'orchard-dl-'));
          const result = await runPip(['download', '--no-deps', '--index-url', index(), '--dest', dest, requirement], { python: client.python });
          return { ...result, files: await readdir(dest) };
        };

        it('finds no distribution when the only version is yanked and not pinned', async () => {
          const result = await download(`${p}yank`);
          expect(result.code).not.toBe(0);
          expect(result.stderr).toMatch(new RegExp(`No matching distribution found for ${p}yank`));
          expect(result.files).toEqual([]);
        });

        it('downloads a yanked version pinned with ==, warning with the reason', async () => {
          const result = await download(`${p}yank==1.0`);
          expect(result.code, result.stderr).toBe(0);
          expect(result.files).toEqual([`${p}yank-1.0-py3-none-any.whl`]);
          expect(result.stderr + result.stdout).toMatch(/yanked/i);
          expect(result.stderr + result.stdout).toContain('broken build');
        });

        it('skips a yanked newer version for an unpinned requirement', async () => {
          const result = await download(`${p}mixed`);
          expect(result.code, result.stderr).toBe(0);
          expect(result.files).toEqual([`${p}mixed-0.9-py3-none-any.whl`]);
        });
      });
    }
  }
});
