import { describe, expect, it } from 'vitest';
import { MarkerError } from './errors.js';
import { evaluateMarker, parseMarker, type MarkerEvaluationEnvironment } from './markers.js';

const linux311: MarkerEvaluationEnvironment = {
  python_version: '3.11',
  python_full_version: '3.11.4',
  os_name: 'posix',
  sys_platform: 'linux',
  platform_system: 'Linux',
  platform_machine: 'x86_64',
  platform_release: '6.1.0-13-amd64',
  platform_version: '#1 SMP PREEMPT_DYNAMIC Debian',
  platform_python_implementation: 'CPython',
  implementation_name: 'cpython',
  implementation_version: '3.11.4',
};
const win37: MarkerEvaluationEnvironment = {
  ...linux311,
  python_version: '3.7',
  python_full_version: '3.7.9',
  os_name: 'nt',
  sys_platform: 'win32',
  platform_system: 'Windows',
  platform_machine: 'AMD64',
};
const pypyMac: MarkerEvaluationEnvironment = {
  ...linux311,
  python_version: '3.10',
  python_full_version: '3.10.13',
  sys_platform: 'darwin',
  platform_system: 'Darwin',
  platform_machine: 'arm64',
  platform_python_implementation: 'PyPy',
  implementation_name: 'pypy',
  implementation_version: '7.3.15',
};

describe('evaluateMarker', () => {
  const cases: [string, boolean, boolean, boolean][] = [
    ['python_version < "3.8"', false, true, false],
    ['python_version >= "3.10"', true, false, true],
    ['python_version > "3.9"', true, false, true],
    ['python_full_version >= "3.11.4"', true, false, false],
    ['python_version == "3.7.*"', false, true, false],
    ['python_version ~= "3.10"', true, false, true],
    ['python_version < "3.8" and (os_name == "nt" or sys_platform == "win32")', false, true, false],
    ['(sys_platform == "linux" or sys_platform == "darwin") and python_version >= "3.10"', true, false, true],
    ['sys_platform == "win32" or platform_machine == "arm64" and implementation_name == "pypy"', false, true, true],
    ['platform_python_implementation != "CPython"', false, false, true],
    ['"arm" in platform_machine', false, false, true],
    ['"64" not in platform_machine', false, false, false],
    ['os_name === "NT"', false, true, false],
    ['platform_release >= "6"', true, true, true],
    ['implementation_version >= "7"', false, false, true],
    ["sys.platform == 'linux'", true, false, false],
    ['python_implementation == "PyPy"', false, false, true],
    ['"3.8" < python_version', true, false, true],
  ];
  it.each(cases)('%s', (marker, linux, win, mac) => {
    expect([evaluateMarker(marker, linux311), evaluateMarker(marker, win37), evaluateMarker(marker, pypyMac)]).toEqual([linux, win, mac]);
  });

  it('handles extras: none by default, any requested one, PEP 685 normalisation', () => {
    expect(evaluateMarker('extra == "test"', {})).toBe(false);
    expect(evaluateMarker('extra == "test"', { extras: ['docs', 'Test'] })).toBe(true);
    expect(evaluateMarker('extra == "dev-tools"', { extras: ['Dev_Tools'] })).toBe(true);
    expect(evaluateMarker('extra == "Dev.Tools"', { extra: 'dev-tools' })).toBe(true);
    expect(evaluateMarker('python_version < "3.8" and extra == "test"', { ...linux311, extras: ['test'] })).toBe(false);
    expect(evaluateMarker('python_version < "3.8" and extra == "test"', { ...win37, extras: ['test'] })).toBe(true);
  });

  it('derives python_version from python_full_version and vice versa', () => {
    expect(evaluateMarker('python_version == "3.12"', { python_full_version: '3.12.1' })).toBe(true);
    expect(evaluateMarker('python_full_version < "3.12.1"', { python_version: '3.12' })).toBe(true);
  });

  it('throws on a missing variable unless onMissing is false', () => {
    expect(() => evaluateMarker('os_name == "nt"', { python_version: '3.11' })).toThrow(MarkerError);
    expect(evaluateMarker('os_name == "nt"', { python_version: '3.11' }, { onMissing: 'false' })).toBe(false);
    expect(evaluateMarker('os_name == "nt" or python_version >= "3"', { python_version: '3.11' }, { onMissing: 'false' })).toBe(true);
  });

  it('accepts a parsed marker', () => {
    const node = parseMarker('python_version >= "3"');
    expect(evaluateMarker(node, { python_version: '3.11' })).toBe(true);
  });

  it.each(['', 'python_version', 'python_version <', 'foo == "1"', '(os_name == "nt"', 'os_name == "nt")', 'os_name = "nt"', 'os_name == "nt" and and'])('rejects %j', (marker) => {
    expect(() => parseMarker(marker)).toThrow(MarkerError);
  });

  it('throws for ~= on non-versions', () => {
    expect(() => evaluateMarker('os_name ~= "nt"', linux311)).toThrow(MarkerError);
  });
});
