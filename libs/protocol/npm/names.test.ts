import { describe, expect, it } from 'vitest';
import { isValidProjectName, normalizeName, projectPageUrl, unscopedName } from './names.js';

describe('npm package names', () => {
  it('accepts current, scoped and legacy capitalised names', () => {
    for (const name of ['lodash', 'react-dom', '@types/node', '@babel/core', 'JSONStream', 'a', 'x.y_z', '@scope%2fname', '@Scope%2Fname']) {
      expect(isValidProjectName(name), name).toBe(true);
    }
  });

  it('refuses names npm never held', () => {
    for (const name of ['', '.hidden', '_private', ' lodash', 'has space', 'a/b', '@scope/', '@/name', 'foo%2fbar', 'node_modules', 'é', 'a'.repeat(215)]) {
      expect(isValidProjectName(name), name).toBe(false);
    }
    expect(isValidProjectName('a'.repeat(214))).toBe(true);
  });

  it('keeps case and decodes only a scoped name’s encoded slash', () => {
    expect(normalizeName('JSONStream')).toBe('JSONStream');
    expect(normalizeName('@types%2fnode')).toBe('@types/node');
    expect(normalizeName('@types%2Fnode')).toBe('@types/node');
    expect(normalizeName('@types/node')).toBe('@types/node');
    expect(normalizeName('foo%2fbar')).toBe('foo%2fbar');
  });

  it('names tarballs without the scope', () => {
    expect(unscopedName('@types/node')).toBe('node');
    expect(unscopedName('lodash')).toBe('lodash');
  });

  it('builds the upstream packument URL with the scope slash encoded', () => {
    expect(projectPageUrl('https://registry.npmjs.org', '@types/node')).toBe('https://registry.npmjs.org/@types%2fnode');
    expect(projectPageUrl('https://registry.npmjs.org/', '@types%2fnode')).toBe('https://registry.npmjs.org/@types%2fnode');
    expect(projectPageUrl('https://mirror.example/npm/', 'JSONStream')).toBe('https://mirror.example/npm/JSONStream');
  });
});
