import { describe, expect, it } from 'vitest';
import { isNormalized, isValidProjectName, normalizeExtra, normalizeName } from './names.js';

describe('normalizeName', () => {
  it.each([
    ['Django', 'django'],
    ['zope.interface', 'zope-interface'],
    ['Foo__Bar', 'foo-bar'],
    ['A.B-C_d', 'a-b-c-d'],
    ['friendly-bard', 'friendly-bard'],
    ['FRIENDLY-._-BARD', 'friendly-bard'],
    ['ruamel.yaml.clib', 'ruamel-yaml-clib'],
  ])('%s → %s', (input, expected) => {
    expect(normalizeName(input)).toBe(expected);
  });
  it('normalises extras the same way (PEP 685)', () => {
    expect(normalizeExtra('Dev_Tools')).toBe('dev-tools');
  });
});

describe('isValidProjectName', () => {
  it.each(['a', 'A1', 'zope.interface', 'Foo_Bar-baz', '1password'])('accepts %s', (n) => {
    expect(isValidProjectName(n)).toBe(true);
  });
  it.each(['', '-foo', 'foo-', 'foo.', '_x', 'a b', 'a/b', '../etc', 'ünï', 'x'.repeat(201)])('rejects %j', (n) => {
    expect(isValidProjectName(n)).toBe(false);
  });
  it('accepts names up to the cap', () => {
    expect(isValidProjectName('x'.repeat(200))).toBe(true);
  });
});

describe('isNormalized', () => {
  it('accepts normalised names only', () => {
    expect(isNormalized('zope-interface')).toBe(true);
    expect(isNormalized('Zope-interface')).toBe(false);
    expect(isNormalized('zope.interface')).toBe(false);
    expect(isNormalized('zope--interface')).toBe(false);
    expect(isNormalized('-x')).toBe(false);
  });
});
