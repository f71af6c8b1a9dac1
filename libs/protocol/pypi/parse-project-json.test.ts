import { describe, expect, it } from 'vitest';
import { MalformedPageError } from './errors.js';
import { parseProjectJson } from './parse-project-json.js';

const BASE = 'https://pypi.example/simple/foo/';

describe('parseProjectJson', () => {
  it('parses every known key and keeps unknown ones', () => {
    const doc = {
      meta: { 'api-version': '1.1', '_last-serial': 42 },
      name: 'foo',
      versions: ['1.0'],
      files: [
        {
          filename: 'foo-1.0-py3-none-any.whl',
          url: '/files/foo-1.0-py3-none-any.whl',
          hashes: { SHA256: 'ABCD' },
          'requires-python': '>=3.8',
          yanked: 'bad build',
          'core-metadata': { sha256: 'EF01' },
          'dist-info-metadata': { sha256: 'ignored' },
          'gpg-sig': false,
          size: 1234,
          'upload-time': '2024-01-01T00:00:00.000000Z',
          provenance: 'https://x/provenance',
        },
      ],
      alternate: { x: 1 },
    };
    const page = parseProjectJson(JSON.stringify(doc), BASE);
    expect(page).toEqual({
      name: 'foo',
      meta: { 'api-version': '1.1', '_last-serial': 42 },
      versions: ['1.0'],
      files: [
        {
          filename: 'foo-1.0-py3-none-any.whl',
          url: 'https://pypi.example/files/foo-1.0-py3-none-any.whl',
          hashes: { sha256: 'abcd' },
          requiresPython: '>=3.8',
          yanked: 'bad build',
          coreMetadata: { sha256: 'ef01' },
          gpgSig: false,
          size: 1234,
          uploadTime: '2024-01-01T00:00:00.000000Z',
          extra: { provenance: 'https://x/provenance' },
        },
      ],
      extra: { alternate: { x: 1 } },
    });
  });

  it('falls back to dist-info-metadata, and reads yanked true/false', () => {
    const doc = {
      meta: { 'api-version': '1.0' },
      name: 'foo',
      files: [
        { filename: 'a-1.whl', url: 'a-1.whl', hashes: {}, 'dist-info-metadata': true, yanked: true },
        { filename: 'b-1.whl', url: 'b-1.whl', hashes: {}, 'dist-info-metadata': { sha256: 'aa' }, yanked: false },
        { filename: 'c-1.whl', url: 'c-1.whl', hashes: {}, 'core-metadata': false },
      ],
    };
    const files = parseProjectJson(JSON.stringify(doc), BASE).files;
    expect(files.map((f) => [f.coreMetadata, f.yanked])).toEqual([
      [true, true],
      [{ sha256: 'aa' }, false],
      [undefined, undefined],
    ]);
  });

  it.each([
    ['not JSON', '<html>'],
    ['an array', '[]'],
    ['files missing', '{"meta":{"api-version":"1.0"},"name":"foo"}'],
    ['files not an array', '{"name":"foo","files":{}}'],
    ['filename not a string', '{"name":"foo","files":[{"filename":1,"url":"x","hashes":{}}]}'],
    ['hashes not strings', '{"name":"foo","files":[{"filename":"f","url":"x","hashes":{"sha256":1}}]}'],
    ['size negative', '{"name":"foo","files":[{"filename":"f","url":"x","hashes":{},"size":-1}]}'],
    ['yanked a number', '{"name":"foo","files":[{"filename":"f","url":"x","hashes":{},"yanked":1}]}'],
    ['major version 2', '{"meta":{"api-version":"2.0"},"name":"foo","files":[]}'],
    ['versions not strings', '{"name":"foo","files":[],"versions":[1]}'],
  ])('throws MalformedPageError for %s', (_, body) => {
    expect(() => parseProjectJson(body, BASE)).toThrow(MalformedPageError);
  });

  it('defaults the api-version and the name, and drops unusable files', () => {
    const body = '{"files":[{"filename":"../x","url":"x","hashes":{}},{"filename":"f-1.zip","url":"ftp://h/f","hashes":{}}]}';
    expect(parseProjectJson(Buffer.from(body), BASE)).toEqual({ name: 'foo', meta: { 'api-version': '1.0' }, files: [] });
  });
});
