import { describe, expect, it } from 'vitest';
import { RequirementError } from './errors.js';
import { parseLegacyRequires, parseRequirement } from './requirements.js';

describe('parseRequirement', () => {
  it('parses extras, an old-style parenthesised specifier and a compound marker', () => {
    const raw = 'A.B-C_d [Extra1, extra2] (>=1.0, <2); python_version < "3.8" and (os_name == "nt" or sys_platform == "win32")';
    expect(parseRequirement(raw)).toEqual({
      raw,
      name: 'A.B-C_d',
      normalizedName: 'a-b-c-d',
      extras: ['Extra1', 'extra2'],
      specifier: '>=1.0,<2',
      marker: 'python_version < "3.8" and (os_name == "nt" or sys_platform == "win32")',
    });
  });

  it('parses a direct URL with a marker after whitespace', () => {
    expect(parseRequirement("pkg @ https://x/y.whl ; extra == 'Test'")).toMatchObject({
      name: 'pkg',
      url: 'https://x/y.whl',
      specifier: '',
      marker: "extra == 'Test'",
      extra: 'test',
    });
    expect(parseRequirement('pkg@https://x/y.whl')).toMatchObject({ url: 'https://x/y.whl' });
    expect(() => parseRequirement('pkg @ https://x/y.whl; extra == "a"')).toThrow(RequirementError);
  });

  it.each([
    ['foo; extra=="Dev-Tools"', 'dev-tools'],
    ["foo ; 'test' == extra", 'test'],
    ["foo;extra=='X_Y.z'", 'x-y-z'],
    ['foo; python_version < "3.8" and extra == "test"', 'test'],
    ['foo; (python_version < "3.8" and extra == "test") and os_name == "nt"', 'test'],
    ['foo; extra == "a" or extra == "b"', undefined],
    ['foo; (extra == "a" or extra == "b")', undefined],
    ['foo; extra != "a"', undefined],
    ['foo; python_version >= "3"', undefined],
  ])('%s → extra %s', (raw, extra) => {
    const req = parseRequirement(raw);
    expect(req.extra).toBe(extra);
    expect(req.marker).toBeDefined();
  });

  it('normalises specifier spacing and keeps order', () => {
    expect(parseRequirement('foo >= 1.0 , <2').specifier).toBe('>=1.0,<2');
    expect(parseRequirement('foo==1.*,!=1.3.*').specifier).toBe('==1.*,!=1.3.*');
    expect(parseRequirement('foo===weird-1').specifier).toBe('===weird-1');
    expect(parseRequirement('foo ~= 1.4.2 ;python_version>"3"')).toMatchObject({ specifier: '~=1.4.2', marker: 'python_version>"3"' });
    expect(parseRequirement('foo[]').extras).toEqual([]);
    expect(parseRequirement('  foo  ')).toMatchObject({ name: 'foo', specifier: '' });
  });

  it.each([
    '',
    '-foo',
    'foo bar',
    'foo >=',
    'foo >= 1.0 <2',
    'foo (>=1.0',
    'foo[a,',
    'foo[a b]',
    'foo ~= 1',
    'foo >= 1.*',
    'foo;',
    'foo; python_version',
    'foo; bogus_var == "1"',
    'foo; os_name == "a" and',
    'foo @ ',
  ])('rejects %j', (raw) => {
    expect(() => parseRequirement(raw)).toThrow(RequirementError);
  });
});

describe('parseLegacyRequires', () => {
  it('accepts metadata 1.1 values', () => {
    expect(parseLegacyRequires('xml.parsers.expat (>1.0, <2)')).toMatchObject({
      name: 'xml.parsers.expat',
      normalizedName: 'xml-parsers-expat',
      specifier: '>1.0,<2',
    });
    expect(parseLegacyRequires('re')).toMatchObject({ name: 're', specifier: '' });
    expect(parseLegacyRequires('Foo (1.0)')).toMatchObject({ name: 'Foo', specifier: '1.0' });
    expect(() => parseLegacyRequires('not valid (')).toThrow(RequirementError);
  });
});
