import { describe, expect, it } from 'vitest';
import { isJsonContentType, pypiProtocol } from './adapter.js';
import { MalformedPageError } from './errors.js';

const BASE = 'https://up.example/simple/foo/';
const SHA = 'AB'.repeat(32);

describe('pypiProtocol', () => {
  it('chooses JSON or HTML by content type', () => {
    expect(isJsonContentType('application/vnd.pypi.simple.v1+json')).toBe(true);
    expect(isJsonContentType('Application/JSON; charset=utf-8')).toBe(true);
    expect(isJsonContentType('text/html; charset=utf-8')).toBe(false);
    expect(isJsonContentType('application/vnd.pypi.simple.v1+html')).toBe(false);
    expect(isJsonContentType(undefined)).toBe(false);
    expect(isJsonContentType('')).toBe(false);

    const json = '{"meta":{"api-version":"1.0"},"name":"foo","files":[{"filename":"foo-1.tar.gz","url":"foo-1.tar.gz","hashes":{}}]}';
    expect(pypiProtocol.parseProjectPage(json, 'application/vnd.pypi.simple.v1+json', BASE).files).toHaveLength(1);
    const html = '<a href="foo-1.tar.gz">foo-1.tar.gz</a>';
    expect(pypiProtocol.parseProjectPage(Buffer.from(html), 'text/html', BASE).files).toHaveLength(1);
    expect(pypiProtocol.parseProjectPage(html, '', BASE).name).toBe('foo');
    expect(() => pypiProtocol.parseProjectPage(html, 'application/json', BASE)).toThrow(MalformedPageError);
  });

  it('gives the sha256 as file identity, lower case', () => {
    expect(pypiProtocol.fileIdentity({ filename: 'f', url: 'u', hashes: { sha256: SHA } })).toBe(SHA.toLowerCase());
    expect(pypiProtocol.fileIdentity({ filename: 'f', url: 'u', hashes: { md5: 'ab' } })).toBeUndefined();
    expect(pypiProtocol.fileIdentity({ filename: 'f', url: 'u', hashes: { sha256: 'nothex' } })).toBeUndefined();
  });

  it('exposes name rules', () => {
    expect(pypiProtocol.name).toBe('pypi');
    expect(pypiProtocol.normalizeName('Foo.Bar')).toBe('foo-bar');
    expect(pypiProtocol.isValidProjectName('../x')).toBe(false);
  });
});
