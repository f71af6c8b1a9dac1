import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactMetadataError } from '../errors.js';
import type { ArtifactSource } from '../types.js';
import { npmProtocol } from './adapter.js';
import { extractMetadata } from './extract-metadata.js';
import { DEFAULT_TARBALL_BOUNDS } from './read-tarball-manifest.js';

let root: string;
let counter = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'orchard-npm-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A gzipped tarball of `files` (path → content), written in that order, as `npm pack` would lay it out. */
async function tarball(files: Record<string, string | Buffer>): Promise<Buffer> {
  const cwd = join(root, `t${++counter}`);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(cwd, path)), { recursive: true });
    await writeFile(join(cwd, path), content);
  }
  const file = join(root, `t${counter}.tgz`);
  await tar.c({ gzip: true, cwd, file, portable: true }, Object.keys(files));
  return readFile(file);
}

/** A source whose stream hands out 64 KiB chunks and counts those read. */
function source(bytes: Buffer): ArtifactSource & { chunksRead: () => number } {
  let read = 0;
  return {
    size: bytes.length,
    read: async (start, end) => bytes.subarray(start, end + 1),
    open: async () =>
      Readable.from(
        (function* () {
          for (let i = 0; i < bytes.length; i += 65536) {
            read++;
            yield bytes.subarray(i, i + 65536);
          }
        })(),
      ),
    chunksRead: () => read,
  };
}

async function failure(bytes: Buffer, bounds = DEFAULT_TARBALL_BOUNDS): Promise<ArtifactMetadataError> {
  const err = await extractMetadata('x-1.0.0.tgz', source(bytes), bounds).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ArtifactMetadataError);
  expect((err as ArtifactMetadataError).status).toBe('failed');
  return err as ArtifactMetadataError;
}

const MANIFEST = {
  name: '@acme/widget',
  version: '2.1.0',
  description: 'A widget',
  license: 'MIT',
  dependencies: { 'left-pad': '^1.3.0', fsevents: '^2.0.0', lodash: 'npm:lodash-es@^4', mine: 'github:acme/mine#v1' },
  optionalDependencies: { fsevents: '~2.3.2' },
  peerDependencies: { react: '^18.0.0', 'react-dom': '^18.0.0' },
  peerDependenciesMeta: { 'react-dom': { optional: true } },
  devDependencies: { vitest: '*' },
};

describe('extractMetadata', () => {
  it('reads package/package.json with its metadata and requirements', async () => {
    const json = JSON.stringify(MANIFEST, null, 2);
    const result = await npmProtocol.extractMetadata('widget-2.1.0.tgz', source(await tarball({ 'package/index.js': 'x', 'package/package.json': json })));
    expect(result.bytes.toString()).toBe(json);
    expect(result.dependenciesKnown).toBe(true);
    expect(result.metadata).toEqual({
      name: '@acme/widget',
      version: '2.1.0',
      summary: 'A widget',
      licenseExpression: 'MIT',
      requiresDist: [],
      requires: [],
      providesExtra: [],
      dynamic: [],
      fields: {},
    });
    expect(result.requirements.map((r) => [r.raw, r.kind, r.url])).toEqual([
      ['dependencies:left-pad@^1.3.0', 'dependency', undefined],
      ['dependencies:lodash@npm:lodash-es@^4', 'dependency', 'npm:lodash-es@^4'],
      ['dependencies:mine@github:acme/mine#v1', 'dependency', 'github:acme/mine#v1'],
      ['optionalDependencies:fsevents@~2.3.2', 'optional', undefined],
      ['peerDependencies:react@^18.0.0', 'peer', undefined],
      ['peerDependencies:react-dom@^18.0.0', 'peer-optional', undefined],
    ]);
    expect(result.requirements[0]).toEqual({
      raw: 'dependencies:left-pad@^1.3.0',
      name: 'left-pad',
      normalizedName: 'left-pad',
      extras: [],
      specifier: '^1.3.0',
      kind: 'dependency',
    });
  });

  it('finds package.json under whatever top-level directory the archive has, ignoring nested ones', async () => {
    const bytes = await tarball({
      'node/lib/package.json': '{"name":"nested","version":"0.0.0"}',
      'node/package.json': '{"name":"@types/node","version":"20.1.0","license":{"type":"MIT"}}',
    });
    const result = await extractMetadata('node-20.1.0.tgz', source(bytes));
    expect(result.metadata).toMatchObject({ name: '@types/node', version: '20.1.0', licenseExpression: 'MIT' });
  });

  it('stops reading as soon as package.json is found', async () => {
    const bytes = await tarball({ 'package/package.json': '{"name":"a","version":"1.0.0"}', 'package/blob.bin': randomBytes(4 * 1024 * 1024) });
    const src = source(bytes);
    await extractMetadata('a-1.0.0.tgz', src);
    expect(src.chunksRead()).toBeLessThan(bytes.length / 65536 / 2);
  });

  it('fails on a tarball without package.json', async () => {
    expect((await failure(await tarball({ 'package/index.js': 'x' }))).reason).toMatch(/no package.json/);
  });

  it('fails on a package.json over 1 MiB', async () => {
    const huge = JSON.stringify({ name: 'a', version: '1.0.0', pad: 'x'.repeat(1024 * 1024) });
    expect((await failure(await tarball({ 'package/package.json': huge }))).reason).toMatch(/more than 1048576/);
  });

  it('fails on invalid or unusable package.json', async () => {
    expect((await failure(await tarball({ 'package/package.json': '{oops' }))).reason).toMatch(/not valid JSON/);
    expect((await failure(await tarball({ 'package/package.json': '[]' }))).reason).toMatch(/not a JSON object/);
    expect((await failure(await tarball({ 'package/package.json': '{"version":"1.0.0"}' }))).reason).toMatch(/no name/);
    expect((await failure(await tarball({ 'package/package.json': '{"name":"a"}' }))).reason).toMatch(/no version/);
  });

  it('fails on data that is not gzip, truncated gzip and corrupt gzip', async () => {
    expect((await failure(Buffer.from('this is not a tarball'))).reason).toMatch(/not a valid gzip stream/);
    const code = Array.from({ length: 5000 }, (_, i) => `export const value${i} = ${(i * 7919) % 10007};\n`).join('');
    const good = await tarball({ 'package/index.js': code, 'package/package.json': '{"name":"a","version":"1.0.0"}' });
    expect((await failure(good.subarray(0, good.length / 2))).reason).toMatch(/not a valid gzip stream/);
    const corrupt = Buffer.from(good);
    corrupt.fill(0xff, 2000, 2100);
    expect((await failure(corrupt)).reason).toMatch(/not a valid gzip stream|corrupt tar/);
  });

  it('fails on gzip that holds no tar archive', async () => {
    expect((await failure(gzipSync(Buffer.from('plain text, no tar headers')))).reason).toMatch(/corrupt tar archive|no package.json/);
  });

  it('reads past thousands of entries, within the entry bound', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 3000; i++) files[`package/f${i}.js`] = '';
    files['package/package.json'] = '{"name":"many","version":"1.0.0"}';
    const bytes = await tarball(files);
    expect((await extractMetadata('many-1.0.0.tgz', source(bytes))).metadata.name).toBe('many');
    const bounded = await failure(bytes, { ...DEFAULT_TARBALL_BOUNDS, maxEntries: 1000 });
    expect(bounded.reason).toMatch(/no package.json among the first 1000 entries/);
  });

  it('stops past the decompressed-size bound', async () => {
    const bytes = await tarball({ 'package/zeros.bin': Buffer.alloc(2 * 1024 * 1024), 'package/package.json': '{"name":"z","version":"1.0.0"}' });
    const err = await failure(bytes, { ...DEFAULT_TARBALL_BOUNDS, maxInflatedBytes: 1024 * 1024 });
    expect(err.reason).toMatch(/no package.json in the first 1048576 decompressed bytes/);
  });

  it('passes a storage error through as it is', async () => {
    const broken: ArtifactSource = {
      size: 10,
      read: async () => Buffer.alloc(0),
      open: async () =>
        new Readable({
          read() {
            this.destroy(new Error('S3 connection reset'));
          },
        }),
    };
    await expect(extractMetadata('a-1.0.0.tgz', broken)).rejects.toThrow('S3 connection reset');
    await expect(extractMetadata('a-1.0.0.tgz', broken)).rejects.not.toBeInstanceOf(ArtifactMetadataError);
  });
});
