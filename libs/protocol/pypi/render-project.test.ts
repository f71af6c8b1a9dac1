import { describe, expect, it } from 'vitest';
import type { ProjectFile, ProjectPage } from '../types.js';
import { parseProjectHtml } from './parse-project-html.js';
import { parseProjectJson } from './parse-project-json.js';
import { renderProjectHtml } from './render-project-html.js';
import { renderProjectJson } from './render-project-json.js';

const BASE = 'https://orchard.example/simple/foo/';
const SHA = 'ab'.repeat(32);
/** The gateway's style: relative links to itself. */
const link = (f: ProjectFile): string => `../../files/${encodeURIComponent(f.filename)}`;
const abs = (f: ProjectFile): string => new URL(link(f), BASE).href;

const page: ProjectPage = {
  name: 'Foo',
  meta: { 'api-version': '1.0' },
  files: [
    {
      filename: 'foo-1.0-py3-none-any.whl',
      url: 'https://up/foo-1.0-py3-none-any.whl',
      hashes: { md5: '00ff', sha256: SHA },
      requiresPython: '>=3.8,<4',
      yanked: 'reason with <b>"quotes"</b> & \'apostrophes\'',
      coreMetadata: { sha256: 'cd'.repeat(32) },
      gpgSig: false,
    },
    {
      filename: 'foo-1.0.tar.gz',
      url: 'https://up/foo-1.0.tar.gz',
      hashes: { md5: '1234' },
      yanked: true,
      coreMetadata: true,
    },
    { filename: 'foo-0.9.tar.gz', url: 'https://up/foo-0.9.tar.gz', hashes: {} },
  ],
};

describe('renderProjectHtml', () => {
  const html = renderProjectHtml(page, link);

  it('escapes attributes and declares the api-version', () => {
    expect(html).toContain('<meta name="pypi:repository-version" content="1.0">');
    expect(html).toContain(`<a href="../../files/foo-1.0-py3-none-any.whl#sha256=${SHA}"`);
    expect(html).toContain('data-requires-python="&gt;=3.8,&lt;4"');
    expect(html).toContain('data-yanked="reason with &lt;b&gt;&quot;quotes&quot;&lt;/b&gt; &amp; &#39;apostrophes&#39;"');
    expect(html).toContain(`data-core-metadata="sha256=${'cd'.repeat(32)}" data-dist-info-metadata="sha256=${'cd'.repeat(32)}"`);
    expect(html).toContain('data-gpg-sig="false"');
  });

  it('uses the first hash when there is no sha256, bare yanked and metadata true', () => {
    expect(html).toContain('<a href="../../files/foo-1.0.tar.gz#md5=1234" data-yanked="" data-core-metadata="true" data-dist-info-metadata="true">foo-1.0.tar.gz</a><br/>');
    expect(html).toContain('<a href="../../files/foo-0.9.tar.gz">foo-0.9.tar.gz</a><br/>');
  });

  it('round-trips HTML → model → HTML keeping every field and the order', () => {
    const parsed = parseProjectHtml(html, BASE);
    // HTML carries one hash per file (the fragment): sha256 when there is one.
    const files = page.files.map((f, i) => ({ ...f, url: abs(f), ...(i === 0 ? { hashes: { sha256: SHA } } : {}) }));
    expect(parsed).toEqual({ ...page, files });
    const again = renderProjectHtml(parsed, link);
    expect(again).toBe(html);
  });
});

describe('renderProjectJson', () => {
  it('emits core-metadata only, never dist-info-metadata', () => {
    const json = JSON.parse(renderProjectJson(page, link)) as { files: Record<string, unknown>[] };
    expect(json.files[0]).toEqual({
      filename: 'foo-1.0-py3-none-any.whl',
      url: '../../files/foo-1.0-py3-none-any.whl',
      hashes: { md5: '00ff', sha256: SHA },
      'requires-python': '>=3.8,<4',
      yanked: page.files[0]!.yanked,
      'core-metadata': { sha256: 'cd'.repeat(32) },
      'gpg-sig': false,
    });
    expect(json.files[1]).toMatchObject({ yanked: true, 'core-metadata': true });
    expect(JSON.stringify(json)).not.toContain('dist-info-metadata');
    // PEP 691: the JSON name is the normalised one, however the upstream spelled it.
    expect(json).toMatchObject({ meta: { 'api-version': '1.0' }, name: 'foo' });
    expect(json).not.toHaveProperty('versions');
  });

  it('never lets extra keys override known ones or reintroduce dist-info-metadata', () => {
    const p: ProjectPage = {
      ...page,
      files: [{ ...page.files[2]!, extra: { 'dist-info-metadata': true, url: 'evil', provenance: null } }],
      extra: { name: 'evil', alternate: 1 },
    };
    const json = JSON.parse(renderProjectJson(p, link)) as Record<string, unknown>;
    expect(json).toEqual({
      meta: { 'api-version': '1.0' },
      name: 'foo',
      files: [{ filename: 'foo-0.9.tar.gz', url: '../../files/foo-0.9.tar.gz', hashes: {}, provenance: null }],
      alternate: 1,
    });
  });

  it('bumps api-version to 1.1 when PEP 700 data is present', () => {
    const withSize: ProjectPage = { ...page, files: [{ ...page.files[2]!, size: 10 }] };
    expect(JSON.parse(renderProjectJson(withSize, link)).meta['api-version']).toBe('1.1');
    const withVersions: ProjectPage = { ...page, versions: ['0.9'] };
    expect(JSON.parse(renderProjectJson(withVersions, link)).meta['api-version']).toBe('1.1');
    const newer: ProjectPage = { ...withVersions, meta: { 'api-version': '1.3' } };
    expect(JSON.parse(renderProjectJson(newer, link)).meta['api-version']).toBe('1.3');
  });

  it('round-trips JSON → model → JSON keeping every field, unknown keys and order', () => {
    const upstream = {
      meta: { 'api-version': '1.1', '_last-serial': 7 },
      name: 'foo',
      files: [
        {
          filename: 'foo-1.0.tar.gz',
          url: 'https://up/foo-1.0.tar.gz',
          hashes: { sha256: SHA },
          'requires-python': '>=3.8',
          yanked: false,
          'core-metadata': { sha256: SHA },
          'gpg-sig': true,
          size: 99,
          'upload-time': '2024-05-01T10:00:00Z',
          provenance: 'https://up/prov',
        },
        { filename: 'foo-0.1.zip', url: 'https://up/foo-0.1.zip', hashes: {}, yanked: 'old' },
      ],
      versions: ['0.1', '1.0'],
      'future-key': { nested: [1, 2] },
    };
    const model = parseProjectJson(JSON.stringify(upstream), 'https://up/simple/foo/');
    const out = JSON.parse(renderProjectJson(model, (f) => f.url));
    expect(out).toEqual(upstream);
    expect(Object.keys(out.files[0])).toEqual(Object.keys(upstream.files[0]!));
  });
});
