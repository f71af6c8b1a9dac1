import { describe, expect, it } from 'vitest';
import { ArtifactMetadataError, EnvironmentQueryError } from '../errors.js';
import type { ProtocolAdapter } from '../types.js';
import { npmProtocol } from './index.js';

describe('the npm adapter behind the protocol contract', () => {
  it('declares what the services route and configure by', () => {
    const adapter: ProtocolAdapter = npmProtocol;
    expect(adapter).toMatchObject({
      name: 'npm',
      defaultUpstreams: 'npmjs=https://registry.npmjs.org/',
      projectPageAccept: 'application/json',
      pageFormats: ['json', 'abbreviated'],
      pagePaths: 'registry',
      hasRootIndex: false,
    });
    expect(adapter.projectPageUrl('https://registry.npmjs.org/', '@types/node')).toBe('https://registry.npmjs.org/@types%2fnode');
    expect(adapter.advertisesExtractedMetadata('a-1.0.0.tgz')).toBe(false);
  });

  it('answers errors in npm’s shape', () => {
    expect(npmProtocol.errorBody?.(404, 'not found')).toEqual({ contentType: 'application/json', body: '{"error":"not found"}' });
  });

  it('has no dependency conditions to evaluate', () => {
    expect(npmProtocol.dependencyEnvironment({})).toBeUndefined();
    expect(() => npmProtocol.dependencyEnvironment({ python: '3.11' })).toThrow(EnvironmentQueryError);
    expect(() => npmProtocol.dependencyEnvironment({ python: '3.11' })).toThrow(/"python": npm dependencies are not conditional/);
  });

  it('refuses the root-index and metadata-file members clearly', async () => {
    expect(() => npmProtocol.createRootIndexParser('application/json', () => undefined, 100)).toThrow(/npm has no root index/);
    expect(() => npmProtocol.renderRootIndex('json', [])).toThrow(/npm has no root index/);
    const err = await npmProtocol.readMetadataFile('a-1.0.0.tgz', { size: 0, read: async () => Buffer.alloc(0) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArtifactMetadataError);
    expect(err).toMatchObject({ status: 'unsupported' });
  });

  it('parses whatever content type the upstream labels a packument with', () => {
    const body = JSON.stringify({ name: 'a', versions: { '1.0.0': { dist: { tarball: 'https://r/a-1.0.0.tgz', shasum: 'ab'.repeat(20) } } } });
    expect(npmProtocol.parseProjectPage(body, 'text/plain', 'https://r/a').files).toHaveLength(1);
  });
});
