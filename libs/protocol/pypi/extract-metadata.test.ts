import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ArtifactMetadataError } from '../errors.js';
import type { ArtifactSource } from '../types.js';
import { pypiProtocol } from './adapter.js';

function source(bytes: Buffer): ArtifactSource {
  return {
    size: bytes.length,
    read: async (start, end) => bytes.subarray(start, end + 1),
    open: async () => Readable.from([bytes]),
  };
}

async function failure(filename: string, bytes: Buffer): Promise<ArtifactMetadataError> {
  const err = await pypiProtocol.extractMetadata(filename, source(bytes)).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ArtifactMetadataError);
  return err as ArtifactMetadataError;
}

describe('the PyPI adapter behind the protocol contract', () => {
  it('reports formats it does not read as unsupported, broken archives as failed', async () => {
    expect(await failure('demo-1.0-py3.8.egg', Buffer.from('x'))).toMatchObject({ status: 'unsupported' });
    expect(await failure('demo-1.0-py3-none-any.whl', Buffer.from('not a zip at all'))).toMatchObject({ status: 'failed' });
  });

  it('reads versions from file names and orders them as PEP 440 does', () => {
    expect(pypiProtocol.versionFromFilename('demo-1.0.post1-py3-none-any.whl')).toBe('1.0.post1');
    expect(pypiProtocol.versionFromFilename('demo-2.0.tar.gz')).toBe('2.0');
    expect(pypiProtocol.versionFromFilename('README')).toBeUndefined();
    expect(['1.10', 'not-a-version', '1.9', '1.0rc1'].sort(pypiProtocol.compareVersions)).toEqual(['1.0rc1', '1.9', '1.10', 'not-a-version']);
    expect(pypiProtocol.sameVersion('1.0', '1.0.0')).toBe(true);
    expect(pypiProtocol.sameVersion('1.0', '1.1')).toBe(false);
  });

  it('evaluates dependency conditions in the environment a query asks for', () => {
    expect(pypiProtocol.dependencyEnvironment({})).toBeUndefined();
    const env = pypiProtocol.dependencyEnvironment({ python: '3.11.4', platform: 'linux' })!;
    expect(env.description).toMatchObject({ python_version: '3.11', sys_platform: 'linux', extras: [] });
    expect(env.evaluate('python_version >= "3.8"')).toEqual({ verdict: true, missing: [] });
    expect(env.evaluate('platform_machine == "arm64"')).toEqual({ verdict: 'undetermined', missing: ['platform_machine'] });
  });
});
