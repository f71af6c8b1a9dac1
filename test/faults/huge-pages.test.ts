/**
 * Huge and pathological upstream pages: a page past ORCHARD_MAX_PAGE_BYTES or ORCHARD_MAX_PAGE_FILES
 * and a JSON page nested 100,000 levels deep are each a 502 with a one-line reason (never a 500),
 * nothing is cached, and the gateway keeps serving; a page at the limits is served whole.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrchardProcesses } from '../support/orchard.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { getText } from './support/helpers.js';

const MAX_FILES = 1000;
const MAX_BYTES = 1024 * 1024;
const JSON_TYPE = 'application/vnd.pypi.simple.v1+json';

const sha = (n: number) => createHash('sha256').update(String(n)).digest('hex');

function jsonPage(name: string, files: number, pad = 0): string {
  const list = Array.from({ length: files }, (_, i) => ({
    filename: `${name}-${i}.0-py3-none-any.whl`,
    url: `../../files/${name}-${i}.0-py3-none-any.whl`,
    hashes: { sha256: sha(i) },
    ...(pad > 0 ? { padding: 'x'.repeat(pad) } : {}),
  }));
  return JSON.stringify({ meta: { 'api-version': '1.0' }, name, files: list });
}

describe('huge upstream pages', () => {
  const upstream = new FakeUpstream();
  let orchard: OrchardProcesses;
  const page = (project: string) => getText(`${orchard.gatewayUrl}/simple/${project}/`, { headers: { accept: JSON_TYPE } });

  beforeAll(async () => {
    upstream.pageOverrides.set('too-many-bytes', { contentType: JSON_TYPE, body: jsonPage('too-many-bytes', 100, 12 * 1024) });
    upstream.pageOverrides.set('too-many-files', { contentType: 'text/html', body: htmlPage(MAX_FILES + 1) });
    upstream.pageOverrides.set('at-the-limits', { contentType: JSON_TYPE, body: jsonPage('at-the-limits', MAX_FILES) });
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    upstream.pageOverrides.set('deep', { contentType: JSON_TYPE, body: `{"meta":{"api-version":"1.0"},"name":"deep","files":[],"x":${deep}}` });
    await upstream.start();
    orchard = await OrchardProcesses.start({
      upstreams: `local=${upstream.url}`,
      services: ['gateway'],
      env: { ORCHARD_MAX_PAGE_FILES: String(MAX_FILES), ORCHARD_MAX_PAGE_BYTES: String(MAX_BYTES) },
    });
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    await orchard?.stop();
    await upstream.stop();
  });

  it('answers 502 naming the limit and its setting for a page over either limit, and caches nothing', async () => {
    const cases = [
      ['too-many-bytes', `upstream local answered an index page too large to use: more than ${MAX_BYTES} bytes (ORCHARD_MAX_PAGE_BYTES)`],
      ['too-many-files', `upstream local answered an index page too large to use: more than ${MAX_FILES} files (ORCHARD_MAX_PAGE_FILES)`],
    ] as const;
    for (const [project, reason] of cases) {
      for (let attempt = 1; attempt <= 2; attempt++) {
        const answer = await page(project);
        expect(answer.status, answer.text.slice(0, 300)).toBe(502);
        expect(answer.text).toContain(reason);
        expect(answer.text.length).toBeLessThan(400);
        // Nothing was cached: the second request asks the upstream again.
        expect(upstream.requestsFor(`/simple/${project}/`)).toHaveLength(attempt);
      }
    }
  });

  it('answers 502 (a malformed page, never a 500) for a JSON page nested 100,000 levels deep', async () => {
    const answer = await page('deep');
    expect(answer.status, answer.text.slice(0, 300)).toBe(502);
    expect(answer.text).toMatch(/malformed index page: the page nests deeper than 64 levels/);
  });

  it('serves a page at the limits whole, and stays healthy', async () => {
    const answer = await page('at-the-limits');
    expect(answer.status, answer.text.slice(0, 300)).toBe(200);
    expect((JSON.parse(answer.text) as { files: unknown[] }).files).toHaveLength(MAX_FILES);
    expect((await getText(`${orchard.gatewayUrl}/health`)).status).toBe(200);
  });
});

/** An HTML page of `files` links (well under the byte limit). */
function htmlPage(files: number): string {
  const links = Array.from({ length: files }, (_, i) => `<a href="../../files/x-${i}.0-py3-none-any.whl#sha256=${sha(i)}">x-${i}.0-py3-none-any.whl</a>`);
  return `<!DOCTYPE html><html><body>${links.join('\n')}</body></html>`;
}
