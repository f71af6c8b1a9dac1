import { describe, expect, it } from 'vitest';
import { MalformedPageError } from './errors.js';
import {
  parseRootIndexHtml,
  parseRootIndexJson,
  renderRootIndexHtml,
  renderRootIndexJson,
  ROOT_CHUNK_SIZE,
} from './root-index.js';

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
});
