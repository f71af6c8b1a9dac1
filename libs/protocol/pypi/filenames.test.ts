import { describe, expect, it } from 'vitest';
import { classifyFilename, isSafeFilename, parseSdistFilename, parseWheelFilename } from './filenames.js';

describe('isSafeFilename', () => {
  it.each(['requests-2.31.0-py3-none-any.whl', 'foo-1.0.tar.gz', 'x'])('accepts %s', (f) => {
    expect(isSafeFilename(f)).toBe(true);
  });
  it.each(['', '.', '..', '../x.whl', 'a/b.whl', 'a\\b.whl', 'a\u0000.whl', 'a\n.whl', 'a\u007f', 'x'.repeat(256)])('rejects %j', (f) => {
    expect(isSafeFilename(f)).toBe(false);
  });
});

describe('classifyFilename', () => {
  it.each([
    ['foo-1.0-py3-none-any.whl', 'wheel'],
    ['foo-1.0.tar.gz', 'sdist'],
    ['foo-1.0.ZIP', 'sdist'],
    ['foo-1.0.tar.bz2', 'sdist'],
    ['foo-1.0.tgz', 'sdist'],
    ['foo-1.0.tar', 'sdist'],
    ['foo-1.0.tar.xz', 'sdist'],
    ['foo-1.0-py2.7.egg', 'egg'],
    ['foo-1.0.win32.exe', 'other'],
    ['foo-1.0.msi', 'other'],
  ] as const)('%s is %s', (f, kind) => {
    expect(classifyFilename(f)).toBe(kind);
  });
});

describe('parseWheelFilename', () => {
  it('parses name, version and expanded tags', () => {
    expect(parseWheelFilename('foo_bar-1.0-py2.py3-none-any.whl')).toEqual({
      name: 'foo_bar',
      normalizedName: 'foo-bar',
      version: '1.0',
      pythonTags: ['py2', 'py3'],
      abiTags: ['none'],
      platformTags: ['any'],
      tags: ['py2-none-any', 'py3-none-any'],
    });
  });
  it('parses a build tag', () => {
    const w = parseWheelFilename('numpy-1.26.0-1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl');
    expect(w?.build).toBe('1');
    expect(w?.platformTags).toEqual(['manylinux_2_17_x86_64', 'manylinux2014_x86_64']);
  });
  it.each(['foo-1.0.whl', 'foo-1.0-x-py3-none-any.whl', 'foo-1.0-py3-none-any.tar.gz', 'a-b-c-d-e-f-g.whl'])('rejects %s', (f) => {
    expect(parseWheelFilename(f)).toBeUndefined();
  });
});

describe('parseSdistFilename', () => {
  it('splits at the last hyphen', () => {
    expect(parseSdistFilename('Django-4.2.tar.gz')).toEqual({
      name: 'Django',
      normalizedName: 'django',
      version: '4.2',
      extension: '.tar.gz',
    });
  });
  it('uses the project name when it contains hyphens', () => {
    expect(parseSdistFilename('foo-bar-1.0-1.zip', 'foo_bar')).toMatchObject({ name: 'foo-bar', version: '1.0-1' });
  });
  it('returns undefined for non-sdists or missing versions', () => {
    expect(parseSdistFilename('foo.tar.gz')).toBeUndefined();
    expect(parseSdistFilename('foo-1.0.whl')).toBeUndefined();
  });
});
