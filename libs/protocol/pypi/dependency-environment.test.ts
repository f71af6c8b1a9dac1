import { describe, expect, it } from 'vitest';
import { EnvironmentQueryError as QueryError } from '../errors.js';
import { environmentFor, evaluateInEnvironment, parseEnvironmentQuery } from './dependency-environment.js';

const env = (query: Record<string, string>) => environmentFor(parseEnvironmentQuery(query)!);

describe('parseEnvironmentQuery / environmentFor', () => {
  it('derives every variable the parameters fix', () => {
    expect(env({ python: '3.11.4', platform: 'Linux', machine: 'x86_64', extras: 'Docs,test_x' })).toEqual({
      variables: {
        python_version: '3.11',
        python_full_version: '3.11.4',
        sys_platform: 'linux',
        platform_system: 'Linux',
        os_name: 'posix',
        implementation_name: 'cpython',
        platform_python_implementation: 'CPython',
        implementation_version: '3.11.4',
        platform_machine: 'x86_64',
      },
      extras: ['docs', 'test-x'],
    });
    expect(env({ python: '3.9', platform: 'windows', implementation: 'PyPy' })).toEqual({
      variables: { python_version: '3.9', sys_platform: 'win32', platform_system: 'Windows', os_name: 'nt', implementation_name: 'pypy', platform_python_implementation: 'PyPy' },
      extras: [],
      pythonMinorOnly: '3.9',
    });
    expect(env({ platform: 'macos' }).variables).toMatchObject({ sys_platform: 'darwin', platform_system: 'Darwin' });
    expect(parseEnvironmentQuery({})).toBeUndefined();
  });

  it.each([
    [{ python: 'three' }, /python must be/],
    [{ python: '3' }, /python must be/],
    [{ platform: 'beos' }, /platform must be one of/],
    [{ implementation: 'jython' }, /implementation must be/],
    [{ machine: 'x86 64' }, /machine must be/],
    [{ extras: 'a,,b' }, /invalid extra name ""/],
    [{ pyhton: '3.11' }, /unknown query parameter "pyhton"/],
    [{ python: ['3.10', '3.11'] }, /given once/],
  ])('refuses %j', (query, message) => {
    expect(() => parseEnvironmentQuery(query as Record<string, unknown>)).toThrow(QueryError);
    expect(() => parseEnvironmentQuery(query as Record<string, unknown>)).toThrow(message);
  });
});

describe('evaluateInEnvironment (three-valued)', () => {
  const linux311 = env({ python: '3.11', platform: 'linux' });

  it.each([
    ['python_version >= "3.8"', true],
    ['python_version < "3.8"', false],
    ['sys_platform == "win32" or python_version > "3.10"', true],
    ['sys_platform == "win32" and platform_machine == "arm64"', false],
    ['platform_machine == "arm64"', 'undetermined'],
    ['platform_machine == "arm64" or os_name == "posix"', true],
    ['(platform_machine == "arm64" or os_name == "nt") and python_version >= "3"', 'undetermined'],
    ['"linux" in sys_platform', true],
    ['platform_release >= "5"', 'undetermined'],
    ['python_full_version >= "3.8.1"', true],
    ['python_full_version < "3.11.2"', 'undetermined'],
    ['implementation_name == "cpython" and python_full_version < "3.12"', true],
    ['extra == "docs"', false],
    ['extra == "docs" or python_version >= "3"', true],
  ] as const)('%s → %s', (marker, verdict) => {
    expect(evaluateInEnvironment(marker, linux311).verdict).toBe(verdict);
  });

  it('applies requested extras the way pip does, PEP 685-normalised', () => {
    const withDocs = env({ python: '3.11', extras: 'Docs' });
    expect(evaluateInEnvironment('extra == "docs"', withDocs).verdict).toBe(true);
    expect(evaluateInEnvironment("extra == 'DOCS' and python_version < '3'", withDocs).verdict).toBe(false);
    expect(evaluateInEnvironment('extra == "test"', withDocs).verdict).toBe(false);
  });

  it('names the variables it could not fix', () => {
    expect(evaluateInEnvironment('platform_machine == "arm64" and platform_release > "1"', linux311)).toEqual({
      verdict: 'undetermined',
      missing: ['platform_machine', 'platform_release'],
    });
    expect(evaluateInEnvironment('python_full_version < "3.11.2"', linux311).missing).toEqual(['python_full_version']);
    expect(evaluateInEnvironment('python_full_version < "3.11.2"', env({ python: '3.11.4' })).verdict).toBe(false);
    expect(evaluateInEnvironment('python_version >= "3"', env({ platform: 'linux' }))).toEqual({ verdict: 'undetermined', missing: ['python_version'] });
  });
});
