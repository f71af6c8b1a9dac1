import { describe, expect, it } from 'vitest';
import { MalformedPageError } from './errors.js';
import { parseProjectHtml } from './parse-project-html.js';

const BASE = 'https://pypi.example/simple/foo-bar/';
const SHA = 'ABCDEF0123456789'.repeat(4);

describe('parseProjectHtml', () => {
  it('parses files with every attribute', () => {
    const html = `<!DOCTYPE html><html><head>
      <meta name="pypi:repository-version" content="1.1"><title>Links for Foo.Bar</title></head><body>
      <h1>Links for Foo.Bar</h1>
      <a href="../../files/foo_bar-1.0-py3-none-any.whl#sha256=${SHA}"
         data-requires-python="&gt;=3.8,&lt;4" data-yanked="broken &amp; &quot;bad&quot;"
         data-core-metadata="sha256=AAAA" data-gpg-sig="false">foo_bar-1.0-py3-none-any.whl</a><br/>
      <a href="https://files.example/foo-bar-1.0.tar.gz#md5=0123" data-yanked data-dist-info-metadata="true"
         data-gpg-sig="true">
         foo-bar-1.0.tar.gz
      </a>
      </body></html>`;
    const page = parseProjectHtml(html, BASE);
    expect(page.name).toBe('Foo.Bar');
    expect(page.meta).toEqual({ 'api-version': '1.1' });
    expect(page.files).toEqual([
      {
        filename: 'foo_bar-1.0-py3-none-any.whl',
        url: 'https://pypi.example/files/foo_bar-1.0-py3-none-any.whl',
        hashes: { sha256: SHA.toLowerCase() },
        requiresPython: '>=3.8,<4',
        yanked: 'broken & "bad"',
        coreMetadata: { sha256: 'aaaa' },
        gpgSig: false,
      },
      {
        filename: 'foo-bar-1.0.tar.gz',
        url: 'https://files.example/foo-bar-1.0.tar.gz',
        hashes: { md5: '0123' },
        yanked: true,
        coreMetadata: true,
        gpgSig: true,
      },
    ]);
  });

  it('honours <base href> for every link, resolved against the page URL', () => {
    const html = `<html><head><base href="/mirror/packages/"></head><body>
      <a href="a/foo-1.0.tar.gz">foo-1.0.tar.gz</a>
      <a href="//cdn.example/foo-1.1.tar.gz">foo-1.1.tar.gz</a></body></html>`;
    const page = parseProjectHtml(html, BASE);
    expect(page.files.map((f) => f.url)).toEqual(['https://pypi.example/mirror/packages/a/foo-1.0.tar.gz', 'https://cdn.example/foo-1.1.tar.gz']);
  });

  it('prefers data-core-metadata over data-dist-info-metadata (PEP 714)', () => {
    const html = `<a href="f-1.whl" data-core-metadata="sha256=11" data-dist-info-metadata="sha256=22">f-1.whl</a>
      <a href="g-1.whl" data-dist-info-metadata="sha256=33">g-1.whl</a>
      <a href="h-1.whl" data-core-metadata="false">h-1.whl</a>`;
    const files = parseProjectHtml(html, BASE).files;
    expect(files.map((f) => f.coreMetadata)).toEqual([{ sha256: '11' }, { sha256: '33' }, undefined]);
  });

  it('tolerates sloppy HTML: unclosed anchors, unquoted and upper-case attributes, no hash', () => {
    const html = `<A HREF=foo-1.0.tar.gz DATA-REQUIRES-PYTHON='>=3'>foo-1.0.tar.gz<a href="foo-2.0.zip">foo-2.0.zip`;
    const page = parseProjectHtml(html, BASE);
    expect(page.meta['api-version']).toBe('1.0');
    expect(page.name).toBe('foo-bar');
    expect(page.files).toEqual([
      { filename: 'foo-1.0.tar.gz', url: `${BASE}foo-1.0.tar.gz`, hashes: {}, requiresPython: '>=3' },
      { filename: 'foo-2.0.zip', url: `${BASE}foo-2.0.zip`, hashes: {} },
    ]);
  });

  it('falls back to the URL for empty or unsafe link text and skips unusable links', () => {
    const html = `<a href="x/foo%2B1-1.0.tar.gz"></a>
      <a href="foo-2.tar.gz">../../etc/passwd</a>
      <a>no href</a><a href="javascript:alert(1)">x.tar.gz</a><a href="mailto:a@b">y</a>`;
    const files = parseProjectHtml(html, BASE).files;
    expect(files.map((f) => f.filename)).toEqual(['foo+1-1.0.tar.gz', 'foo-2.tar.gz']);
  });

  it('ignores fragments that are not hashes', () => {
    const files = parseProjectHtml('<a href="f-1.tar.gz#egg=f">f-1.tar.gz</a>', BASE).files;
    expect(files[0]).toEqual({ filename: 'f-1.tar.gz', url: `${BASE}f-1.tar.gz`, hashes: {} });
  });

  it('throws MalformedPageError on binary, empty or markup-less bodies', () => {
    expect(() => parseProjectHtml(Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00]), BASE)).toThrow(MalformedPageError);
    expect(() => parseProjectHtml('', BASE)).toThrow(MalformedPageError);
    expect(() => parseProjectHtml('just some text', BASE)).toThrow(MalformedPageError);
  });

  it('refuses an unsupported major api-version (PEP 629)', () => {
    const html = '<meta name="pypi:repository-version" content="2.0"><a href="f-1.tar.gz">f-1.tar.gz</a>';
    expect(() => parseProjectHtml(html, BASE)).toThrow(/unsupported api-version/);
  });

  it('accepts a Buffer with UTF-8 and a BOM', () => {
    const buf = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('<a href="f-1.tar.gz">f-1.tar.gz</a>')]);
    expect(parseProjectHtml(buf, BASE).files).toHaveLength(1);
  });
});
