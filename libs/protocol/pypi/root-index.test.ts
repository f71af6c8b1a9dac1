import { describe, expect, it } from 'vitest';
import { MalformedPageError } from './errors.js';
import { createRootIndexParser, parseRootIndexHtml, parseRootIndexJson, renderRootIndexHtml, renderRootIndexJson, ROOT_CHUNK_SIZE } from './root-index.js';

describe('root index', () => {
  it('parses HTML anchors by text', () => {
    const html = '<html><body><a href="/simple/zope-interface/">zope.interface</a>\n<a href="a/"> A_B </a><a href="x/"></a></body></html>';
    expect(parseRootIndexHtml(html)).toEqual([{ name: 'zope.interface' }, { name: 'A_B' }]);
  });

  it('parses JSON projects and rejects wrong shapes', () => {
    const body = '{"meta":{"api-version":"1.0","_last-serial":3},"projects":[{"name":"Foo"},{"name":"bar"}]}';
    expect(parseRootIndexJson(body)).toEqual([{ name: 'Foo' }, { name: 'bar' }]);
    expect(() => parseRootIndexJson('{"projects":{}}')).toThrow(MalformedPageError);
    expect(() => parseRootIndexJson('{"projects":[{"name":1}]}')).toThrow(MalformedPageError);
    expect(() => parseRootIndexJson('{"projects":[null]}')).toThrow(MalformedPageError);
  });

  it('renders HTML with relative normalised links and escaped text', () => {
    const html = [...renderRootIndexHtml([{ name: 'Zope.Interface' }, { name: 'a<b' }])].join('');
    expect(html).toContain('<meta name="pypi:repository-version" content="1.0">');
    expect(html).toContain('<a href="zope-interface/">Zope.Interface</a>');
    expect(html).toContain('<a href="a%3Cb/">a&lt;b</a>');
    expect(parseRootIndexHtml(html)).toEqual([{ name: 'Zope.Interface' }, { name: 'a<b' }]);
  });

  it('renders JSON and round-trips', () => {
    const entries = [{ name: 'Foo' }, { name: 'b"ar' }];
    const json = [...renderRootIndexJson(entries)].join('');
    expect(JSON.parse(json)).toEqual({ meta: { 'api-version': '1.0' }, projects: entries });
    expect(parseRootIndexJson(json)).toEqual(entries);
    expect(JSON.parse([...renderRootIndexJson([])].join(''))).toEqual({ meta: { 'api-version': '1.0' }, projects: [] });
  });

  it('streams a huge list in chunks from a lazy iterable', () => {
    function* many(): Generator<{ name: string }> {
      for (let i = 0; i < 600_000; i++) yield { name: `project-${i}` };
    }
    let chunks = 0;
    let longest = 0;
    let json = '';
    for (const chunk of renderRootIndexJson(many())) {
      chunks++;
      longest = Math.max(longest, chunk.length);
      json += chunk;
    }
    expect(chunks).toBeGreaterThan(600_000 / ROOT_CHUNK_SIZE);
    expect(longest).toBeLessThan(ROOT_CHUNK_SIZE * 40);
    expect((JSON.parse(json) as { projects: unknown[] }).projects).toHaveLength(600_000);
    const htmlChunks = [...renderRootIndexHtml(many())];
    expect(htmlChunks.length).toBeGreaterThan(600_000 / ROOT_CHUNK_SIZE);
  });

  describe('createRootIndexParser', () => {
    const parse = (contentType: string | undefined, chunks: Buffer[], maxBytes = 1 << 20): string[] => {
      const names: string[] = [];
      const parser = createRootIndexParser(contentType, (e) => names.push(e.name), maxBytes);
      for (const chunk of chunks) parser.write(chunk);
      parser.end();
      return names;
    };
    /** Splits a body into chunks of `size` bytes (cutting through tags, entities and UTF-8 sequences). */
    const split = (body: string, size: number): Buffer[] => {
      const bytes = Buffer.from(body);
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      return chunks;
    };

    it('parses HTML fed in tiny chunks exactly as the whole body', () => {
      const html =
        '\ufeff<!DOCTYPE html><html><head><meta name="pypi:repository-version" content="1.1"></head><body>' +
        '<a href="zope-interface/">zope.interface</a>\n<a href="a/"> A_B </a><a href="x/"></a>' +
        '<a href="amp/">amp&amp;x</a><a href="caf/">café</a><a href="ok/">Ok-Name</a></body></html>';
      for (const size of [1, 2, 3, 7, 64, 10_000]) {
        // Invalid project names (empty, entities decoding to "&", non-ASCII) are skipped.
        expect(parse('text/html; charset=utf-8', split(html, size))).toEqual(['zope.interface', 'A_B', 'Ok-Name']);
      }
    });

    it('parses JSON and checks its api-version', () => {
      const body = JSON.stringify({ meta: { 'api-version': '1.0' }, projects: [{ name: 'Foo' }, { name: 'b-a-r', '_last-serial': 3 }] });
      expect(parse('application/vnd.pypi.simple.v1+json', split(body, 5))).toEqual(['Foo', 'b-a-r']);
      const v2 = JSON.stringify({ meta: { 'api-version': '2.0' }, projects: [] });
      expect(() => parse('application/vnd.pypi.simple.v1+json', [Buffer.from(v2)])).toThrow(MalformedPageError);
    });

    it('refuses an unsupported HTML api-version, binary data and bodies over the limit', () => {
      expect(() => parse('text/html', [Buffer.from('<meta name="pypi:repository-version" content="2.0"><a>x</a>')])).toThrow(MalformedPageError);
      expect(() => parse('text/html', [Buffer.from('<a>x</a>\u0000')])).toThrow(MalformedPageError);
      expect(() => parse('text/html', [Buffer.from('plain text, no markup')])).toThrow(MalformedPageError);
      expect(() => parse('text/html', split('<a>x</a>'.repeat(100), 10), 500)).toThrow(/larger than 500 bytes/);
      expect(() => parse('application/json', [Buffer.alloc(600, 32)], 500)).toThrow(/larger than 500 bytes/);
      expect(parse('text/html', [])).toEqual([]);
    });
  });
});
