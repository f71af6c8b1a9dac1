/**
 * Contract of the index pages (PEP 503 / 691 / 592 / 658 / 700 / 714) and their HTTP semantics,
 * against the real gateway process, from an HTML-only and from a JSON-only upstream.
 */
import { createHash } from 'node:crypto';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseProjectHtml } from '../../libs/protocol/pypi/index.js';
import { OrchardProcesses } from '../support/orchard.js';
import { FakeUpstream, type UpstreamFile } from '../support/upstream-server.js';
import { HTML_TYPE, JSON_TYPE, PIP_ACCEPT, request } from './http.js';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const UV_ACCEPT = `${JSON_TYPE}, ${HTML_TYPE};q=0.2, text/html;q=0.01`;
const YANK_REASON = `broken "build" <b>&</b> 'x'`;
const UPLOADED = '2024-05-01T12:34:56.123456Z';

/** Every field a file can carry, in the combinations that matter. */
function fieldFiles(project: string): UpstreamFile[] {
  const meta = (v: string) => Buffer.from(`Metadata-Version: 2.1\nName: ${project}\nVersion: ${v}\n`);
  return [
    {
      filename: `${project}-1.0-py3-none-any.whl`,
      bytes: Buffer.from(`${project} wheel 1.0`),
      requiresPython: '>=3.8, <4',
      yanked: YANK_REASON,
      metadata: meta('1.0'),
      gpgSig: false,
      uploadTime: UPLOADED,
      extraHashes: { md5: '0123456789ABCDEF0123456789ABCDEF' },
      extraJson: { provenance: 'https://example.invalid/provenance', 'x-future': { nested: [1, 'two'] } },
    },
    // Only the pre-PEP 714 name advertises the metadata (HTML attribute / JSON key).
    { filename: `${project}-1.0.tar.gz`, bytes: Buffer.from(`${project} sdist 1.0`), yanked: true, gpgSig: true, metadata: meta('1.0s'), metadataAdvertised: 'dist-info' },
    // Metadata advertised without a hash; explicitly not yanked.
    { filename: `${project}-0.9-py3-none-any.whl`, bytes: Buffer.from(`${project} wheel 0.9`), yanked: false, metadata: meta('0.9'), metadataAdvertised: 'true' },
    // Only the PEP 714 name.
    { filename: `${project}-0.8-py3-none-any.whl`, bytes: Buffer.from(`${project} wheel 0.8`), metadata: meta('0.8'), metadataAdvertised: 'core' },
  ];
}

const fileUrl = (project: string, file: UpstreamFile) => `../../files/${project}/${sha256(file.bytes)}/${encodeURIComponent(file.filename)}`;

describe('index pages: every field in both formats, from HTML and JSON upstreams', () => {
  const htmlUp = new FakeUpstream();
  const jsonUp = new FakeUpstream();
  let orchard: OrchardProcesses;
  const files = { 'html-fields': fieldFiles('html-fields'), 'json-fields': fieldFiles('json-fields') };
  const page = (project: string, accept?: string, extra: Record<string, string> = {}) =>
    request(`${orchard.gatewayUrl}/simple/${project}/`, { headers: { ...(accept ? { accept } : {}), ...extra } });

  beforeAll(async () => {
    htmlUp.format = 'html';
    jsonUp.format = 'json';
    for (const f of files['html-fields']) htmlUp.publish('Html_Fields', f);
    for (const f of files['json-fields']) jsonUp.publish('json-fields', f);
    jsonUp.setProjectOptions('json-fields', {
      apiVersion: '1.1',
      versions: ['0.8', '0.9', '1.0'],
      metaExtra: { '_last-serial': 42 },
      pageExtra: { 'x-alternate-locations': ['https://mirror.invalid/simple/json-fields/'] },
    });
    // Root lists overlap: the first upstream's spelling wins a name.
    htmlUp.rootExtraNames.push('Zope.Interface', 'only-in-html');
    jsonUp.rootExtraNames.push('zope_interface', 'only-in-json', ...Array.from({ length: 60_000 }, (_, i) => `bulk-project-${i}`));
    await htmlUp.start();
    await jsonUp.start();
    orchard = await OrchardProcesses.start({ upstreams: `html=${htmlUp.url} json=${jsonUp.url}`, services: ['gateway'] });
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) console.log(orchard?.logs.gateway);
    await orchard?.stop();
    await htmlUp.stop();
    await jsonUp.stop();
  });

  describe('PEP 691 JSON', () => {
    it('from a JSON upstream keeps every field, meta key, PEP 700 data and unknown key', async () => {
      const res = await page('json-fields', PIP_ACCEPT);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe(JSON_TYPE);
      expect(res.headers['x-orchard-upstream']).toBe('json');
      const doc = JSON.parse(res.body.toString());
      const [wheel, sdist, unhashed, coreOnly] = files['json-fields'];
      expect(doc).toEqual({
        meta: { 'api-version': '1.1', '_last-serial': 42 },
        name: 'json-fields',
        versions: ['0.8', '0.9', '1.0'],
        'x-alternate-locations': ['https://mirror.invalid/simple/json-fields/'],
        files: [
          {
            filename: wheel!.filename,
            url: fileUrl('json-fields', wheel!),
            hashes: { md5: '0123456789abcdef0123456789abcdef', sha256: sha256(wheel!.bytes) },
            'requires-python': '>=3.8, <4',
            yanked: YANK_REASON,
            'core-metadata': { sha256: sha256(wheel!.metadata!) },
            'gpg-sig': false,
            size: wheel!.bytes.length,
            'upload-time': UPLOADED,
            provenance: 'https://example.invalid/provenance',
            'x-future': { nested: [1, 'two'] },
          },
          {
            filename: sdist!.filename,
            url: fileUrl('json-fields', sdist!),
            hashes: { sha256: sha256(sdist!.bytes) },
            yanked: true,
            'core-metadata': { sha256: sha256(sdist!.metadata!) },
            'gpg-sig': true,
            size: sdist!.bytes.length,
          },
          {
            filename: unhashed!.filename,
            url: fileUrl('json-fields', unhashed!),
            hashes: { sha256: sha256(unhashed!.bytes) },
            yanked: false,
            'core-metadata': true,
            size: unhashed!.bytes.length,
          },
          {
            filename: coreOnly!.filename,
            url: fileUrl('json-fields', coreOnly!),
            hashes: { sha256: sha256(coreOnly!.bytes) },
            'core-metadata': { sha256: sha256(coreOnly!.metadata!) },
            size: coreOnly!.bytes.length,
          },
        ],
      });
      // pip 22.3–23.1 crash on a JSON dist-info-metadata: never emitted, whatever the upstream said.
      expect(res.body.toString()).not.toContain('dist-info-metadata');
    });

    it('from an HTML upstream carries what HTML can say, with the normalised name and api-version 1.0', async () => {
      const res = await page('html-fields', UV_ACCEPT);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe(JSON_TYPE);
      const doc = JSON.parse(res.body.toString());
      const [wheel, sdist, unhashed, coreOnly] = files['html-fields'];
      expect(doc).toEqual({
        meta: { 'api-version': '1.0' },
        name: 'html-fields',
        files: [
          {
            filename: wheel!.filename,
            url: fileUrl('html-fields', wheel!),
            hashes: { sha256: sha256(wheel!.bytes) },
            'requires-python': '>=3.8, <4',
            yanked: YANK_REASON,
            'core-metadata': { sha256: sha256(wheel!.metadata!) },
            'gpg-sig': false,
          },
          {
            filename: sdist!.filename,
            url: fileUrl('html-fields', sdist!),
            hashes: { sha256: sha256(sdist!.bytes) },
            yanked: true,
            'core-metadata': { sha256: sha256(sdist!.metadata!) },
            'gpg-sig': true,
          },
          { filename: unhashed!.filename, url: fileUrl('html-fields', unhashed!), hashes: { sha256: sha256(unhashed!.bytes) }, 'core-metadata': true },
          {
            filename: coreOnly!.filename,
            url: fileUrl('html-fields', coreOnly!),
            hashes: { sha256: sha256(coreOnly!.bytes) },
            'core-metadata': { sha256: sha256(coreOnly!.metadata!) },
          },
        ],
      });
      expect(res.body.toString()).not.toContain('dist-info-metadata');
    });
  });

  describe('PEP 503 HTML', () => {
    for (const project of ['json-fields', 'html-fields'] as const) {
      it(`from ${project === 'json-fields' ? 'a JSON' : 'an HTML'} upstream escapes and keeps every attribute`, async () => {
        const res = await page(project, 'text/html');
        expect(res.status).toBe(200);
        expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
        const html = res.body.toString();
        const [wheel, sdist, unhashed, coreOnly] = files[project];
        const apiVersion = project === 'json-fields' ? '1.1' : '1.0';
        expect(html).toContain(`<meta name="pypi:repository-version" content="${apiVersion}">`);
        const anchor = (file: UpstreamFile) => html.split('\n').find((line) => line.includes(`>${file.filename}</a>`)) ?? '';
        const metadataAttrs = (file: UpstreamFile) => `data-core-metadata="sha256=${sha256(file.metadata!)}" data-dist-info-metadata="sha256=${sha256(file.metadata!)}"`;
        expect(anchor(wheel!)).toBe(
          `<a href="${fileUrl(project, wheel!)}#sha256=${sha256(wheel!.bytes)}" data-requires-python="&gt;=3.8, &lt;4" ` +
            `data-yanked="broken &quot;build&quot; &lt;b&gt;&amp;&lt;/b&gt; &#39;x&#39;" ${metadataAttrs(wheel!)} data-gpg-sig="false">${wheel!.filename}</a><br/>`,
        );
        expect(anchor(sdist!)).toBe(
          `<a href="${fileUrl(project, sdist!)}#sha256=${sha256(sdist!.bytes)}" data-yanked="" ${metadataAttrs(sdist!)} data-gpg-sig="true">${sdist!.filename}</a><br/>`,
        );
        expect(anchor(unhashed!)).toBe(
          `<a href="${fileUrl(project, unhashed!)}#sha256=${sha256(unhashed!.bytes)}" data-core-metadata="true" data-dist-info-metadata="true">${unhashed!.filename}</a><br/>`,
        );
        expect(anchor(coreOnly!)).toBe(`<a href="${fileUrl(project, coreOnly!)}#sha256=${sha256(coreOnly!.bytes)}" ${metadataAttrs(coreOnly!)}>${coreOnly!.filename}</a><br/>`);

        // What a client's HTML parser reads back is exactly what the upstream said.
        const parsed = parseProjectHtml(html, `http://orchard.invalid/simple/${project}/`);
        expect(parsed.files.map((f) => [f.filename, f.requiresPython, f.yanked, f.coreMetadata, f.gpgSig])).toEqual([
          [wheel!.filename, '>=3.8, <4', YANK_REASON, { sha256: sha256(wheel!.metadata!) }, false],
          [sdist!.filename, undefined, true, { sha256: sha256(sdist!.metadata!) }, true],
          [unhashed!.filename, undefined, undefined, true, undefined],
          [coreOnly!.filename, undefined, undefined, { sha256: sha256(coreOnly!.metadata!) }, undefined],
        ]);
      });
    }

    it('serves the PEP 691 HTML type to clients that ask for it', async () => {
      const res = await page('json-fields', `${HTML_TYPE}, ${JSON_TYPE};q=0.5`);
      expect(res.headers['content-type']).toBe(HTML_TYPE);
      expect(res.body.toString()).toContain('<!DOCTYPE html>');
    });
  });

  describe('negotiation', () => {
    it.each([
      ['pip 23', PIP_ACCEPT, JSON_TYPE],
      ['uv', UV_ACCEPT, JSON_TYPE],
      ['pip 22.0', 'text/html', 'text/html; charset=utf-8'],
      ['a browser', 'text/html,application/xhtml+xml,*/*;q=0.8', 'text/html; charset=utf-8'],
      ['no Accept header', undefined, 'text/html; charset=utf-8'],
    ])('%s gets %s', async (_, accept, type) => {
      const res = await page('json-fields', accept);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe(type);
      expect(res.headers.vary).toMatch(/Accept(,|$)/);
    });

    it('lets ?format= override the Accept header', async () => {
      const json = await request(`${orchard.gatewayUrl}/simple/json-fields/?format=${encodeURIComponent(JSON_TYPE)}`, { headers: { accept: 'text/html' } });
      expect(json.headers['content-type']).toBe(JSON_TYPE);
      const html = await request(`${orchard.gatewayUrl}/simple/json-fields/?format=text/html`, { headers: { accept: JSON_TYPE } });
      expect(html.headers['content-type']).toBe('text/html; charset=utf-8');
    });

    it('answers 406 with Vary when nothing is acceptable', async () => {
      for (const res of [
        await page('json-fields', 'application/json'),
        await page('json-fields', `${JSON_TYPE};q=0, text/html;q=0`),
        await request(`${orchard.gatewayUrl}/simple/json-fields/?format=application/xml`),
      ]) {
        expect(res.status).toBe(406);
        expect(res.headers.vary).toMatch(/Accept/);
        expect(res.body.toString()).toContain(JSON_TYPE);
      }
    });

    it('redirects a non-normalised name to the normalised one, keeping the query', async () => {
      const res = await request(`${orchard.gatewayUrl}/simple/Json.Fields/?format=text/html`);
      expect(res.status).toBe(301);
      expect(res.headers.location).toBe('/simple/json-fields/?format=text/html');
      const bare = await request(`${orchard.gatewayUrl}/simple/JSON_fields`);
      expect(bare.status).toBe(301);
      expect(bare.headers.location).toBe('/simple/json-fields/');
    });
  });

  describe('HTTP semantics of pages', () => {
    it('strong ETag per representation, 304 repeating it, Cache-Control from the index TTL', async () => {
      const first = await page('json-fields', PIP_ACCEPT);
      const etag = first.headers.etag!;
      expect(etag).toMatch(/^"[0-9a-f]{32}-json"$/);
      expect(first.headers['cache-control']).toBe('public, max-age=300');
      const html = await page('json-fields', 'text/html');
      expect(html.headers.etag).not.toBe(etag);
      // pip revalidates with Cache-Control: max-age=0: that never bypasses Orchard's cache.
      const revalidated = await page('json-fields', PIP_ACCEPT, { 'if-none-match': etag, 'cache-control': 'max-age=0' });
      expect(revalidated.status).toBe(304);
      expect(revalidated.headers.etag).toBe(etag);
      expect(revalidated.headers['content-encoding']).toBeUndefined();
      expect(revalidated.body.length).toBe(0);
      expect(revalidated.headers['x-orchard-cache']).toBe('hit');
      const weak = await page('json-fields', PIP_ACCEPT, { 'if-none-match': `"other", W/${etag}` });
      expect(weak.status).toBe(304);
      const changed = await page('json-fields', PIP_ACCEPT, { 'if-none-match': '"something-else"' });
      expect(changed.status).toBe(200);
    });

    it('pre-compressed gzip and brotli decode to the identity body; each has its own ETag', async () => {
      const identity = await page('json-fields', PIP_ACCEPT);
      const gzip = await page('json-fields', PIP_ACCEPT, { 'accept-encoding': 'gzip' });
      const br = await page('json-fields', PIP_ACCEPT, { 'accept-encoding': 'gzip, deflate, br' });
      expect(gzip.headers['content-encoding']).toBe('gzip');
      expect(br.headers['content-encoding']).toBe('br');
      expect(gunzipSync(gzip.body)).toEqual(identity.body);
      expect(brotliDecompressSync(br.body)).toEqual(identity.body);
      expect(new Set([identity.headers.etag, gzip.headers.etag, br.headers.etag]).size).toBe(3);
      expect(gzip.headers.vary).toMatch(/Accept-Encoding/);
      expect(Number(gzip.headers['content-length'])).toBe(gzip.body.length);
    });

    it('HEAD gives the same headers and Content-Length as GET, and no body', async () => {
      for (const headers of [{ accept: PIP_ACCEPT }, { accept: 'text/html' }, { accept: PIP_ACCEPT, 'accept-encoding': 'br' }] as Record<string, string>[]) {
        const get = await request(`${orchard.gatewayUrl}/simple/html-fields/`, { headers });
        const head = await request(`${orchard.gatewayUrl}/simple/html-fields/`, { method: 'HEAD', headers });
        expect(head.status).toBe(200);
        expect(head.body.length).toBe(0);
        expect(head.headers['content-length']).toBe(String(get.body.length));
        for (const name of ['etag', 'content-type', 'content-encoding', 'cache-control', 'vary']) expect(head.headers[name]).toBe(get.headers[name]);
      }
    });

    it('answers 404 for a project no upstream has', async () => {
      const res = await page('no-such-project', PIP_ACCEPT);
      expect(res.status).toBe(404);
    });
  });

  describe('the root /simple/ list', () => {
    const root = (accept: string, extra: Record<string, string> = {}) => request(`${orchard.gatewayUrl}/simple/`, { headers: { accept, ...extra } });
    const rootRequests = () => [...htmlUp.requests, ...jsonUp.requests].filter((r) => r.path === '/simple/').length;

    it('is the union of the upstreams’ lists, the first upstream winning a name, in JSON', async () => {
      const res = await root(PIP_ACCEPT);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe(JSON_TYPE);
      expect(res.headers['x-orchard-cache']).toBe('miss');
      const doc = JSON.parse(res.body.toString()) as { meta: Record<string, string>; projects: { name: string }[] };
      expect(doc.meta).toEqual({ 'api-version': '1.0' });
      const names = doc.projects.map((p) => p.name);
      expect(names.slice(0, 3)).toEqual(['Html_Fields', 'Zope.Interface', 'only-in-html']);
      expect(names).toContain('only-in-json');
      expect(names).not.toContain('zope_interface');
      expect(names.filter((n) => n.toLowerCase().replace(/[-_.]+/g, '-') === 'zope-interface')).toHaveLength(1);
      expect(names).toHaveLength(3 + 1 + 1 + 60_000);
      expect(res.body.length).toBeGreaterThan(1024 * 1024); // streamed out of Redis in several ranges
    });

    it('in HTML, with relative links to the normalised names', async () => {
      const res = await root('text/html');
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      const html = res.body.toString();
      expect(html).toContain('<a href="zope-interface/">Zope.Interface</a>');
      expect(html).toContain('<a href="html-fields/">Html_Fields</a>');
      expect(html).toContain('<a href="bulk-project-59999/">bulk-project-59999</a>');
    });

    it('is cached: later requests, in any format and encoding, do not ask the upstreams', async () => {
      const before = rootRequests();
      const json = await root(PIP_ACCEPT);
      const gz = await root(PIP_ACCEPT, { 'accept-encoding': 'gzip' });
      const br = await root('text/html', { 'accept-encoding': 'br' });
      const html = await root('text/html');
      expect(rootRequests()).toBe(before);
      expect(json.headers['x-orchard-cache']).toBe('hit');
      expect(json.headers['cache-control']).toBe(`public, max-age=${6 * 3600}`);
      expect(gunzipSync(gz.body).equals(json.body)).toBe(true);
      expect(brotliDecompressSync(br.body).equals(html.body)).toBe(true);
      expect(Number(gz.headers['content-length'])).toBe(gz.body.length);
    });

    it('has an ETag, answers 304, and HEAD tells the length', async () => {
      const get = await root(PIP_ACCEPT);
      const etag = get.headers.etag!;
      expect(etag).toMatch(/^"[0-9a-f]{32}-json"$/);
      const notModified = await root(PIP_ACCEPT, { 'if-none-match': etag });
      expect(notModified.status).toBe(304);
      expect(notModified.headers.etag).toBe(etag);
      const head = await request(`${orchard.gatewayUrl}/simple/`, { method: 'HEAD', headers: { accept: PIP_ACCEPT } });
      expect(head.headers['content-length']).toBe(String(get.body.length));
      expect(head.body.length).toBe(0);
      expect((await root('application/json')).status).toBe(406);
      const redirect = await request(`${orchard.gatewayUrl}/simple`);
      expect(redirect.status).toBe(301);
      expect(redirect.headers.location).toBe('/simple/');
    });
  });
});
