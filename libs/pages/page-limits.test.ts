import { createHash, randomBytes } from 'node:crypto';
import type { RedisClient } from '../redis/index.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeUpstream } from '../../test/support/upstream-server.js';
import { createCacheRedis, waitForRedis } from '../cache/index.js';
import { loadSettings } from '../config/index.js';
import { UpstreamClient } from '../http/index.js';
import { createLogger } from '../log/index.js';
import { createMetrics } from '../metrics/index.js';
import { pypiProtocol } from '../protocol/pypi/index.js';
import type { ProtocolAdapter } from '../protocol/types.js';
import { createProjectPages } from './create-project-pages.js';
import type { ProjectPages } from './project-pages.js';

const logger = createLogger('gateway', 'silent');
const sha = (n: number) => createHash('sha256').update(String(n)).digest('hex');

/** An HTML page of `files` links, each about 300 bytes. */
function htmlPage(name: string, files: number): string {
  const links: string[] = [];
  for (let i = 0; i < files; i++) {
    links.push(
      `<a href="https://files.example/${sha(i)}/${name}-${i}.0-py3-none-any.whl#sha256=${sha(i)}" data-requires-python="&gt;=3.8">${name}-${i}.0-py3-none-any.whl</a><br/>`,
    );
  }
  return `<!DOCTYPE html><html><head><title>Links for ${name}</title></head><body>${links.join('\n')}</body></html>`;
}

/** The same as PEP 691 JSON. */
function jsonPage(name: string, files: number): string {
  const list = Array.from({ length: files }, (_, i) => ({
    filename: `${name}-${i}.0-py3-none-any.whl`,
    url: `https://files.example/${sha(i)}/${name}-${i}.0-py3-none-any.whl`,
    hashes: { sha256: sha(i) },
  }));
  return JSON.stringify({ meta: { 'api-version': '1.0' }, name, files: list });
}

describe('upstream page limits (ORCHARD_MAX_PAGE_BYTES, ORCHARD_MAX_PAGE_FILES) and huge pages', () => {
  const upstream = new FakeUpstream();
  let redis: RedisClient;
  let http: UpstreamClient;
  let prefix: string;

  function pages(env: Record<string, string> = {}, protocol: ProtocolAdapter = pypiProtocol): ProjectPages {
    const settings = loadSettings({ ORCHARD_UPSTREAMS: `local=${upstream.url}`, ORCHARD_CACHE_PREFIX: prefix, ...env });
    return createProjectPages({ settings, protocol, prefix: '', redis, http, upstreams: async () => settings.upstreams, metrics: createMetrics('gateway'), logger });
  }

  beforeAll(async () => {
    upstream.publish('small', { filename: 'small-1.0-py3-none-any.whl', bytes: Buffer.from('small') });
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
    prefix = `test-limits-${randomBytes(5).toString('hex')}`;
    upstream.pageOverrides.clear();
  });

  it('refuses a page over ORCHARD_MAX_PAGE_BYTES with a reason naming the setting, caching nothing', async () => {
    upstream.pageOverrides.set('wide', { contentType: 'text/html', body: htmlPage('wide', 200) });
    const p = pages({ ORCHARD_MAX_PAGE_BYTES: '16384' });
    await expect(p.serve('wide', 'html')).rejects.toMatchObject({
      failure: 'invalid-response',
      message: 'upstream local answered an index page too large to use: more than 16384 bytes (ORCHARD_MAX_PAGE_BYTES)',
    });
    expect(await p.state('wide')).toMatchObject({ state: 'uncached' });
    // The same page within the limit is served.
    expect(await pages({ ORCHARD_MAX_PAGE_BYTES: '1048576' }).serve('wide', 'html')).toMatchObject({ status: 'page', cache: 'miss' });
  });

  it('refuses a page over ORCHARD_MAX_PAGE_FILES (HTML and JSON), caching nothing; one at the limit is served whole', async () => {
    upstream.pageOverrides.set('many-html', { contentType: 'text/html', body: htmlPage('many-html', 101) });
    upstream.pageOverrides.set('many-json', { contentType: 'application/vnd.pypi.simple.v1+json', body: jsonPage('many-json', 101) });
    const p = pages({ ORCHARD_MAX_PAGE_FILES: '100' });
    for (const project of ['many-html', 'many-json']) {
      await expect(p.serve(project, 'json')).rejects.toMatchObject({
        failure: 'invalid-response',
        message: 'upstream local answered an index page too large to use: more than 100 files (ORCHARD_MAX_PAGE_FILES)',
      });
      expect(await p.state(project)).toMatchObject({ state: 'uncached' });
    }
    const atLimit = pages({ ORCHARD_MAX_PAGE_FILES: '101' });
    for (const project of ['many-html', 'many-json']) {
      const answer = await atLimit.serve(project, 'json');
      expect(answer.status === 'page' && (JSON.parse(answer.body.toString()) as { files: unknown[] }).files).toHaveLength(101);
    }
  });

  it('keeps serving the cached page (stale-error) when its refill is over a limit', async () => {
    upstream.pageOverrides.set('grows', { contentType: 'text/html', body: htmlPage('grows', 10) });
    const p = pages({ ORCHARD_MAX_PAGE_FILES: '50', ORCHARD_INDEX_TTL: '0' });
    const first = await p.serve('grows', 'html');
    expect(first).toMatchObject({ status: 'page', cache: 'miss' });
    upstream.pageOverrides.set('grows', { contentType: 'text/html', body: htmlPage('grows', 51) });
    await expect(p.refresh('grows')).rejects.toThrow(/ORCHARD_MAX_PAGE_FILES/);
    const answer = await p.serve('grows', 'html');
    expect(answer).toMatchObject({ status: 'page', cache: 'stale-error' });
    expect(answer.status === 'page' && first.status === 'page' && answer.body.equals(first.body)).toBe(true);
  });

  it('refuses a JSON page nested 100,000 levels deep as a malformed page (not a stack overflow)', async () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    upstream.pageOverrides.set('deep-extra', {
      contentType: 'application/vnd.pypi.simple.v1+json',
      body: `{"meta":{"api-version":"1.0"},"name":"deep-extra","files":[],"x":${deep}}`,
    });
    upstream.pageOverrides.set('deep-file', {
      contentType: 'application/vnd.pypi.simple.v1+json',
      body: `{"meta":{"api-version":"1.0"},"name":"deep-file","files":[{"filename":"a-1.0.tar.gz","url":"https://x/a-1.0.tar.gz","hashes":{"sha256":"${sha(1)}"},"x":${deep}}]}`,
    });
    upstream.pageOverrides.set('deep-meta', {
      contentType: 'application/vnd.pypi.simple.v1+json',
      body: `{"meta":{"api-version":"1.0","x":${deep}},"name":"deep-meta","files":[]}`,
    });
    const p = pages();
    for (const project of ['deep-extra', 'deep-file', 'deep-meta']) {
      await expect(p.serve(project, 'json')).rejects.toMatchObject({
        failure: 'invalid-response',
        message: expect.stringMatching(/^upstream local answered a malformed index page: .* nests deeper than 64 levels$/),
      });
      expect(await p.state(project)).toMatchObject({ state: 'uncached' });
    }
  });

  it('lets other requests run while a huge page is parsed and rendered', async () => {
    const cached = pages();
    expect(await cached.serve('small', 'html')).toMatchObject({ cache: 'miss' });
    upstream.pageOverrides.set('huge', { contentType: 'text/html', body: htmlPage('huge', 20_000) });
    // Records when the huge page's parsing starts and when its last representation is rendered;
    // a cached page asked for once parsing started must be answered before rendering ends.
    const events: string[] = [];
    let smallAnswer: Promise<unknown> | undefined;
    const startSmall = () => {
      smallAnswer ??= cached.serve('small', 'html').then((answer) => {
        events.push('cached page answered');
        return answer;
      });
    };
    const observed: ProtocolAdapter = {
      ...pypiProtocol,
      parseProjectPage: (...args) => {
        startSmall();
        return pypiProtocol.parseProjectPage(...args);
      },
      createProjectPageParser: (...args) => {
        startSmall();
        return pypiProtocol.createProjectPageParser(...args);
      },
      renderProject: (format, page, link) => {
        const rendered = pypiProtocol.renderProject(format, page, link);
        if (format !== 'json') return rendered;
        if (typeof rendered === 'string') {
          events.push('huge page rendered');
          return rendered;
        }
        return (function* () {
          yield* rendered;
          events.push('huge page rendered');
        })();
      },
    };
    const huge = await pages({}, observed).serve('huge', 'html');
    expect(huge).toMatchObject({ status: 'page', cache: 'miss' });
    expect(await smallAnswer).toMatchObject({ status: 'page', cache: 'hit' });
    expect(events).toEqual(['cached page answered', 'huge page rendered']);
  });
});
