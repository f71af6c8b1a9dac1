/**
 * Fuzz (fast-check) over project names, raw paths and file names from clients, and over the pages
 * an upstream serves. The gateway never answers 5xx for a request that is the client's fault,
 * answers a page it cannot use with a 502 and a short reason (never a 500), and never crashes.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel, type BuiltDist } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { rawGet } from './support/helpers.js';

const SEED = Number(process.env.ORCHARD_FUZZ_SEED ?? 20261126);
const hex = (s: string) => createHash('sha256').update(s).digest('hex');

/** Path pieces that have broken path handling somewhere: encodings, traversal, odd bytes. */
const PATH_TOKENS = [
  '%',
  '%2e',
  '%2E',
  '%2f',
  '%2F',
  '%5c',
  '%00',
  '%0a',
  '%ff',
  '%E0%A4',
  '%C0%AE',
  '%EF%BC%8F',
  '..',
  '.',
  '/',
  '//',
  'a',
  'Z',
  '0',
  '-',
  '_',
  '~',
  '+',
  ';',
  '=',
  ',',
  '!',
  '@',
  '$',
  "'",
  '(',
  ')',
  '*',
  'app',
  'simple',
  'files',
];
const HTML_TOKENS = [
  '<a href="',
  '">',
  '</a>',
  '<a ',
  'href=',
  '<',
  '>',
  '"',
  "'",
  '#sha256=',
  '#sha256=' + hex('x'),
  '#md5=0',
  '../../files/f-1.0-py3-none-any.whl',
  'https://files.example/f-1.0.tar.gz',
  'javascript:alert(1)',
  'file:///etc/passwd',
  'data-requires-python="',
  'data-yanked',
  'data-core-metadata="sha256=',
  '&lt;',
  '&#0;',
  '&#x110000;',
  '&amp',
  '<!--',
  '-->',
  '<script>',
  '</body>',
  '<base href="http://127.0.0.1:1/">',
  '<meta name="pypi:repository-version" content="2.0">',
  '\u0000',
  '\uFFFD',
  '\uD800',
  'é',
  '𝒜',
  ' ',
  '\n',
];

describe('fuzz', () => {
  const upstream = new FakeUpstream();
  let orchard: OrchardProcesses;
  let app: BuiltDist;
  let page = 0;

  beforeAll(async () => {
    app = await buildWheel({ name: 'app', version: '1.0.0' });
    upstream.publish('app', { filename: app.filename, bytes: app.bytes });
    await upstream.start();
    orchard = await OrchardProcesses.start({ upstreams: `local=${upstream.url}`, services: ['gateway'], env: { ORCHARD_LOG_LEVEL: 'warn' } });
    expect((await rawGet(orchard.ports.gateway, '/simple/app/')).status).toBe(200);
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    await orchard?.stop();
    await upstream.stop();
  });

  it('client-supplied project names never cause a 5xx', async () => {
    const name = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.string({ unit: 'grapheme', maxLength: 30 }),
      fc.string({ unit: fc.constantFrom('a', 'B', '0', '-', '_', '.', '..', '%', ' '), maxLength: 60 }),
      fc.string({ unit: 'binary', minLength: 190, maxLength: 260 }),
    );
    await fc.assert(
      fc.asyncProperty(name, async (raw) => {
        const res = await rawGet(orchard.ports.gateway, `/simple/${encodeURIComponent(raw)}/`, { headers: { accept: 'application/vnd.pypi.simple.v1+json' } });
        expect(res.status, `${JSON.stringify(raw)} → ${res.status} ${res.body}`).toBeLessThan(500);
        if (res.status >= 400) expect(res.body.length).toBeLessThan(400);
      }),
      { numRuns: 150, seed: SEED },
    );
  });

  it('raw paths and file names never cause a 5xx', async () => {
    const piece = fc.string({ unit: fc.constantFrom(...PATH_TOKENS), maxLength: 24 });
    const prefix = fc.constantFrom('/simple/', '/files/', '/files/app/', `/files/app/${app.sha256}/`, '/', '/simple/app/', '/metrics/', '/health');
    const filename = fc.oneof(
      piece,
      fc.string({ maxLength: 80 }).map(encodeURIComponent),
      fc.constantFrom(app.filename, `${app.filename}.metadata`, `${app.filename}%00`, `${app.filename}/..`),
    );
    await fc.assert(
      fc.asyncProperty(prefix, piece, filename, fc.boolean(), async (p, middle, name, slash) => {
        const path = `${p}${middle}${slash ? '/' : ''}${name}`;
        const res = await rawGet(orchard.ports.gateway, path);
        expect(res.status, `${path} → ${res.status} ${res.body.toString().slice(0, 200)}`).toBeLessThan(500);
      }),
      { numRuns: 200, seed: SEED },
    );
  });

  it('upstream pages of any shape: 200 with a usable page, or 502 with a short reason; never a 500', async () => {
    const html = fc.string({ unit: fc.oneof(fc.constantFrom(...HTML_TOKENS), fc.string({ maxLength: 3 })), maxLength: 60 }).map((s) => `<html><body>${s}</body></html>`);
    const fileEntry = fc.record(
      {
        filename: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('f-1.0-py3-none-any.whl', 'f-1.0.tar.gz', '../x', '')),
        url: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('../../files/f-1.0.tar.gz', 'https://files.example/f.whl', 'javascript:1', '//evil/x', '')),
        hashes: fc.oneof(fc.dictionary(fc.constantFrom('sha256', 'md5', 'SHA256', 'blake2b'), fc.oneof(fc.constant(hex('y')), fc.string({ maxLength: 8 }))), fc.jsonValue()),
        'requires-python': fc.oneof(fc.string({ maxLength: 10 }), fc.integer()),
        yanked: fc.oneof(fc.boolean(), fc.string({ maxLength: 8 }), fc.constant(null)),
        'core-metadata': fc.oneof(fc.boolean(), fc.record({ sha256: fc.string({ maxLength: 64 }) }), fc.jsonValue()),
        size: fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 4 })),
      },
      { requiredKeys: [] },
    );
    const json = fc
      .record(
        {
          meta: fc.oneof(fc.record({ 'api-version': fc.oneof(fc.constantFrom('1.0', '1.1', '1.4', '2.0', '1', 'x'), fc.jsonValue()) }), fc.jsonValue()),
          name: fc.oneof(fc.string({ maxLength: 10 }), fc.jsonValue()),
          files: fc.oneof(fc.array(fileEntry, { maxLength: 4 }), fc.jsonValue()),
          versions: fc.oneof(fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }), fc.jsonValue()),
        },
        { requiredKeys: [] },
      )
      .map((doc) => JSON.stringify(doc));
    const body = fc.oneof(
      fc.record({ contentType: fc.constant('text/html'), body: html }),
      fc.record({
        contentType: fc.constantFrom('application/vnd.pypi.simple.v1+json', 'application/json'),
        body: fc.oneof(
          json,
          fc.string({ maxLength: 40 }),
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
      }),
      fc.record({ contentType: fc.constantFrom('text/plain', 'application/octet-stream', '', 'text/html; charset=bogus'), body: fc.oneof(html, json) }),
    );
    await fc.assert(
      fc.asyncProperty(body, fc.constantFrom(undefined, 302, 203, 206), async (served, status) => {
        const project = `fuzz-${++page}`;
        upstream.pageOverrides.set(project, status === 302 ? { ...served, status } : served);
        for (const accept of ['application/vnd.pypi.simple.v1+json', 'text/html']) {
          const res = await rawGet(orchard.ports.gateway, `/simple/${project}/`, { headers: { accept } });
          const text = res.body.toString('utf8');
          expect([200, 404, 502, 504], `${JSON.stringify(served).slice(0, 300)} → ${res.status} ${text.slice(0, 200)}`).toContain(res.status);
          if (res.status === 502) expect(text.length).toBeLessThan(400);
          if (res.status === 200 && accept.includes('json')) {
            const doc = JSON.parse(text) as { files: Array<{ url: string; hashes: Record<string, string> }> };
            for (const f of doc.files) {
              // Every link Orchard serves points at itself and names a verified sha256.
              expect(f.url.startsWith('../../files/')).toBe(true);
              expect(f.hashes.sha256).toMatch(/^[0-9a-f]{64}$/);
            }
          }
        }
      }),
      { numRuns: 120, seed: SEED },
    );
  });

  it('is still healthy, and logged no unhandled error', async () => {
    expect((await rawGet(orchard.ports.gateway, '/health')).status).toBe(200);
    expect((await rawGet(orchard.ports.gateway, '/simple/app/')).status).toBe(200);
    expect(orchard.children.get('gateway')?.exitCode).toBeNull();
    expect(orchard.logs.gateway).not.toMatch(/unhandled error/);
  });
});
