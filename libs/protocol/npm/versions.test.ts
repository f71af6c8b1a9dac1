import { describe, expect, it } from 'vitest';
import { compareVersions, isPrerelease, isValidVersionSpecifier, sameVersion, versionFromFilename, versionSatisfies } from './versions.js';

describe('npm versions', () => {
  it('orders by semver, invalid versions last by spelling', () => {
    expect(['1.10.0', 'latest', '1.2.0', '1.2.0-beta.2', '1.2.0-beta.10', 'beta', '0.0.1'].sort(compareVersions)).toEqual([
      '0.0.1',
      '1.2.0-beta.2',
      '1.2.0-beta.10',
      '1.2.0',
      '1.10.0',
      'beta',
      'latest',
    ]);
    expect(compareVersions('1.0.0+a', '1.0.0+b')).toBeLessThan(0);
    expect(compareVersions('1.0.0', '1.0.0')).toBe(0);
  });

  it('compares for equality by semver, build metadata ignored', () => {
    expect(sameVersion('1.0.0', 'v1.0.0')).toBe(true);
    expect(sameVersion('1.0.0', '1.0.0+build')).toBe(true);
    expect(sameVersion('1.0.0', '1.0.1')).toBe(false);
    expect(sameVersion('next', 'next')).toBe(true);
    expect(sameVersion('next', '1.0.0')).toBe(false);
  });

  it('takes semver ranges and matches pre-releases', () => {
    for (const range of ['^1.2.0', '>=1 <2', '1.x', '*', '~0.3', '1.0.0 - 2.0.0', '^1 || ^2']) expect(isValidVersionSpecifier(range), range).toBe(true);
    for (const range of ['not a range', '>=>1', 'github:user/repo']) expect(isValidVersionSpecifier(range), range).toBe(false);
    expect(versionSatisfies('1.5.0', '^1.2.0')).toBe(true);
    expect(versionSatisfies('2.0.0-rc.1', '>=1.0.0')).toBe(true);
    expect(versionSatisfies('2.0.0', '^1.2.0')).toBe(false);
    expect(isPrerelease('2.0.0-rc.1')).toBe(true);
    expect(isPrerelease('2.0.0')).toBe(false);
    expect(isPrerelease('nonsense')).toBe(false);
  });

  it('reads the version from a tarball name, names with dashes included', () => {
    expect(versionFromFilename('lodash-4.17.21.tgz')).toBe('4.17.21');
    expect(versionFromFilename('react-dom-18.2.0.tgz')).toBe('18.2.0');
    expect(versionFromFilename('is-my-json-valid-2.20.6-beta.1.tgz')).toBe('2.20.6-beta.1');
    expect(versionFromFilename('node-20.0.0-rc-1.tgz')).toBe('20.0.0-rc-1');
    expect(versionFromFilename('foo-1.0.0+build.5.tgz')).toBe('1.0.0+build.5');
    expect(versionFromFilename('foo-v1.0.0.tgz')).toBeUndefined();
    expect(versionFromFilename('foo-1.0.0.tar.gz')).toBeUndefined();
    expect(versionFromFilename('README')).toBeUndefined();
  });
});
