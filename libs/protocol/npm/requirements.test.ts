import { describe, expect, it } from 'vitest';
import { ArtifactMetadataError } from '../errors.js';
import { isDirectSpec, manifestRequirements, MAX_REQUIREMENTS } from './requirements.js';

describe('manifestRequirements', () => {
  it('records each kind, optional winning over a plain dependency', () => {
    const reqs = manifestRequirements({
      dependencies: { a: '^1.0.0', b: '2.x' },
      optionalDependencies: { b: '^2.1.0', c: '*' },
      peerDependencies: { d: '>=3', e: '^4', f: '^5' },
      peerDependenciesMeta: { e: { optional: true }, f: { optional: false } },
    });
    expect(reqs.map((r) => [r.raw, r.name, r.specifier, r.kind])).toEqual([
      ['dependencies:a@^1.0.0', 'a', '^1.0.0', 'dependency'],
      ['optionalDependencies:b@^2.1.0', 'b', '^2.1.0', 'optional'],
      ['optionalDependencies:c@*', 'c', '*', 'optional'],
      ['peerDependencies:d@>=3', 'd', '>=3', 'peer'],
      ['peerDependencies:e@^4', 'e', '^4', 'peer-optional'],
      ['peerDependencies:f@^5', 'f', '^5', 'peer'],
    ]);
  });

  it('keeps a name that is both a dependency and a peer once per field', () => {
    const reqs = manifestRequirements({ dependencies: { react: '^18' }, peerDependencies: { react: '^18' } });
    expect(new Set(reqs.map((r) => r.raw)).size).toBe(2);
  });

  it('skips invalid names, non-string specs and non-object fields', () => {
    const reqs = manifestRequirements({
      dependencies: { 'Bad Name': '1', __proto__x: '1', _under: '1', ok: '1', num: 3, obj: {} },
      optionalDependencies: ['legacy', 'array'],
      peerDependencies: 'nope',
    });
    expect(reqs.map((r) => r.name)).toEqual(['ok']);
  });

  it('sets url for aliases, URLs, git, files and GitHub shorthands', () => {
    for (const spec of [
      'npm:lodash-es@^4',
      'https://example.com/a.tgz',
      'git+ssh://git@github.com/a/b.git',
      'github:a/b',
      'file:../local',
      './vendor/x',
      'user/repo#main',
      'link:../x',
    ]) {
      expect(isDirectSpec(spec), spec).toBe(true);
    }
    for (const spec of ['^1.0.0', '>=1 <2', 'latest', '*', '', '1.0.0 - 2.0.0']) expect(isDirectSpec(spec), spec).toBe(false);
    const [req] = manifestRequirements({ dependencies: { x: 'git+https://github.com/a/x.git' } });
    expect(req).toMatchObject({ specifier: 'git+https://github.com/a/x.git', url: 'git+https://github.com/a/x.git', kind: 'dependency' });
  });

  it('fails past the requirement bound', () => {
    const dependencies: Record<string, string> = {};
    for (let i = 0; i <= MAX_REQUIREMENTS; i++) dependencies[`dep${i}`] = '1';
    expect(() => manifestRequirements({ dependencies })).toThrow(ArtifactMetadataError);
  });
});
