import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MalformedPageError } from '../errors.js';
import { PageLimitError } from '../page-limits.js';
import type { ProjectFile } from '../types.js';
import { fileDigest, fileIdentity } from './file-digest.js';
import { createPackumentParser, parsePackument } from './parse-packument.js';
import { renderProject } from './render-packument.js';

const BASE = 'https://registry.npmjs.org/left-pad';
const SHA512 = createHash('sha512').update('tarball 1.3.0').digest();
const SHA1 = createHash('sha1').update('tarball 1.3.0').digest('hex');
const OLD_SHA1 = createHash('sha1').update('tarball 1.0.0').digest('hex');
const INTEGRITY = `sha512-${SHA512.toString('base64')}`;

/** A packument shaped like the registry's, trimmed. */
function leftPad(): Record<string, any> {
  return {
    _id: 'left-pad',
    _rev: '44-8c8a0cb6e3c6cd1ff1e5a6c3d8d1a3b2',
    name: 'left-pad',
    'dist-tags': { latest: '1.3.0', legacy: '1.0.0', broken: '0.0.1' },
    versions: {
      '1.0.0': {
        name: 'left-pad',
        version: '1.0.0',
        main: 'index.js',
        scripts: { test: 'node test' },
        _id: 'left-pad@1.0.0',
        dist: { shasum: OLD_SHA1, tarball: 'https://registry.npmjs.org/left-pad/-/left-pad-1.0.0.tgz' },
        deprecated: 'use String.prototype.padStart()',
      },
      '1.3.0': {
        name: 'left-pad',
        version: '1.3.0',
        description: 'String left pad',
        license: 'WTFPL',
        main: 'index.js',
        types: 'index.d.ts',
        scripts: { test: 'node test', postinstall: 'node thanks.js' },
        dependencies: { 'is-number': '^7.0.0' },
        devDependencies: { tape: '*' },
        peerDependencies: { react: '>=16' },
        peerDependenciesMeta: { react: { optional: true } },
        engines: { node: '>=4' },
        os: ['!win32'],
        funding: 'https://example.com/fund',
        _id: 'left-pad@1.3.0',
        _npmVersion: '5.6.0',
        _npmUser: { name: 'stevemao', email: 'maochenyan@gmail.com' },
        _hasShrinkwrap: false,
        dist: {
          integrity: `sha1-${Buffer.from(SHA1, 'hex').toString('base64')} ${INTEGRITY}`,
          shasum: SHA1,
          tarball: '/left-pad/-/left-pad-1.3.0.tgz',
          fileCount: 9,
          unpackedSize: 11050,
          'npm-signature': '-----BEGIN PGP SIGNATURE-----',
          signatures: [{ keyid: 'SHA256:jl3bwswu80PjjokCgh0o2w5c2U4LhQAE57gj9cz1kzA', sig: 'MEUCIQ' }],
        },
      },
      'not-semver': { name: 'left-pad', version: 'not-semver', dist: { tarball: 'https://x/y.tgz' } },
      '0.0.1': 'not an object',
      '0.0.2': { name: 'left-pad', version: '0.0.2', dist: { tarball: 'https://registry.npmjs.org/left-pad/-/left-pad-0.0.2.tgz' } },
      '0.0.3': { name: 'left-pad', version: '0.0.3', dist: { tarball: 'ftp://elsewhere/left-pad-0.0.3.tgz', shasum: OLD_SHA1 } },
    },
    time: { modified: '2022-06-19T23:01:00.000Z', created: '2014-03-07T21:14:22.000Z', '1.0.0': '2014-03-07T21:14:22.000Z', '1.3.0': '2018-04-09T01:34:40.000Z' },
    maintainers: [{ name: 'stevemao', email: 'maochenyan@gmail.com' }],
    description: 'String left pad',
    readme: '# left-pad',
    license: 'WTFPL',
    repository: { type: 'git', url: 'git+https://github.com/stevemao/left-pad.git' },
    users: { someone: true },
  };
}

const link = (f: ProjectFile): string => `https://orchard.example/npm/left-pad/-/${f.filename}`;

describe('parsePackument', () => {
  const page = parsePackument(JSON.stringify(leftPad()), BASE);

  it('maps each version with a fetchable tarball to one file', () => {
    expect(page.name).toBe('left-pad');
    expect(page.meta).toEqual({ 'api-version': '1.0' });
    expect(page.versions).toEqual(['1.0.0', '1.3.0', '0.0.2']);
    expect(page.files.map((f) => f.filename)).toEqual(['left-pad-1.0.0.tgz', 'left-pad-1.3.0.tgz', 'left-pad-0.0.2.tgz']);
    const [old, current, bare] = page.files;
    expect(old).toMatchObject({ url: 'https://registry.npmjs.org/left-pad/-/left-pad-1.0.0.tgz', hashes: { sha1: OLD_SHA1 }, uploadTime: '2014-03-07T21:14:22.000Z' });
    expect(current!.url).toBe('https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz');
    expect(current!.hashes).toEqual({ sha512: SHA512.toString('hex'), sha1: SHA1 });
    expect(current!.extra).toEqual({ version: '1.3.0', manifest: leftPad()['versions']['1.3.0'] });
    expect(bare!.hashes).toEqual({});
  });

  it('keeps every top-level key but versions', () => {
    const { versions: _versions, ...rest } = leftPad();
    expect(page.extra).toEqual(rest);
  });

  it('takes the verified digest and the 64-hex identity from sha512, else sha1', () => {
    const [old, current, bare] = page.files;
    expect(fileDigest(current!)).toEqual({ algorithm: 'sha512', hex: SHA512.toString('hex') });
    expect(fileIdentity(current!)).toBe(SHA512.toString('hex').slice(0, 64));
    expect(fileDigest(old!)).toEqual({ algorithm: 'sha1', hex: OLD_SHA1 });
    expect(fileIdentity(old!)).toBe('0'.repeat(24) + OLD_SHA1);
    expect(fileIdentity(old!)).toMatch(/^[0-9a-f]{64}$/);
    expect(fileDigest(bare!)).toBeUndefined();
    expect(fileIdentity(bare!)).toBeUndefined();
  });

  it('reads scoped packuments, naming tarballs without the scope', () => {
    const doc = {
      name: '@types/node',
      'dist-tags': { latest: '20.1.0' },
      versions: { '20.1.0': { name: '@types/node', version: '20.1.0', dist: { integrity: INTEGRITY, tarball: 'https://registry.npmjs.org/@types/node/-/node-20.1.0.tgz' } } },
    };
    const scoped = parsePackument(Buffer.from(JSON.stringify(doc)), 'https://registry.npmjs.org/@types%2fnode');
    expect(scoped.name).toBe('@types/node');
    expect(scoped.files[0]).toMatchObject({ filename: 'node-20.1.0.tgz', hashes: { sha512: SHA512.toString('hex') } });
  });

  it('takes a sha1 from an old sha1 integrity when there is no shasum, and ignores broken SRI entries', () => {
    const doc = {
      name: 'old',
      versions: {
        '1.0.0': { dist: { integrity: `sha512-!!! sha1-${Buffer.from(OLD_SHA1, 'hex').toString('base64')}`, tarball: 'https://r/old-1.0.0.tgz' } },
        '1.0.1': { dist: { integrity: 'sha512-c2hvcnQ=', shasum: 'XYZ', tarball: 'https://r/old-1.0.1.tgz' } },
      },
    };
    const [first, second] = parsePackument(JSON.stringify(doc), 'https://r/old').files;
    expect(first!.hashes).toEqual({ sha1: OLD_SHA1 });
    expect(second!.hashes).toEqual({});
  });

  it('maps a package whose every version was unpublished to a page with no files, kept as the registry says it', () => {
    const unpublished = { name: 'gone', time: { created: '2020-01-01T00:00:00.000Z', unpublished: { time: '2021-01-01T00:00:00.000Z', versions: ['1.0.0'] } } };
    const page = parsePackument(JSON.stringify(unpublished), BASE);
    expect(page.files).toEqual([]);
    const full = JSON.parse([...renderProject('json', page, () => 'unused')].join('')) as Record<string, unknown>;
    expect(full).toMatchObject({ name: 'gone', versions: {}, time: unpublished.time });
  });
  it('refuses bodies that are not packuments', () => {
    const bad: Array<[string, RegExp]> = [
      ['{not json', /invalid JSON/],
      ['[1,2]', /not a JSON object/],
      ['null', /not a JSON object/],
      ['{"versions":{}}', /no name/],
      ['{"name":"Not Valid Name","versions":{}}', /not a valid npm package name/],
      ['{"name":"x"}', /no versions object/],
      ['{"name":"x","versions":[]}', /no versions object/],
      ['{"name":"x","versions":"1.0.0"}', /no versions object/],
    ];
    for (const [body, message] of bad) {
      const err = (() => {
        try {
          parsePackument(body, BASE);
        } catch (e) {
          return e;
        }
      })();
      expect(err, body).toBeInstanceOf(MalformedPageError);
      expect((err as Error).message, body).toMatch(message);
    }
    expect(() => parsePackument('{}', 'not a url')).toThrow(MalformedPageError);
  });

  it('refuses values nested past the pass-through depth', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 100; i++) deep = { deep };
    expect(() => parsePackument(JSON.stringify({ name: 'x', versions: {}, deep }), BASE)).toThrow(/nests deeper/);
  });
});

describe('createPackumentParser', () => {
  it('refuses a body past maxBytes while it arrives', () => {
    const parser = createPackumentParser(BASE, { maxBytes: 10, maxFiles: 100 });
    parser.write(Buffer.from('{"name":'));
    expect(() => parser.write(Buffer.from('"left-pad"}'))).toThrow(PageLimitError);
  });

  it('refuses more versions than maxFiles', () => {
    const parser = createPackumentParser(BASE, { maxBytes: 1e9, maxFiles: 1 });
    parser.write(Buffer.from(JSON.stringify(leftPad())));
    const steps = parser.end();
    expect(() => [...steps]).toThrow(PageLimitError);
  });

  it('builds a large packument in steps, chunk by chunk', () => {
    const versions: Record<string, unknown> = {};
    for (let i = 0; i < 1200; i++) versions[`1.0.${i}`] = { version: `1.0.${i}`, dist: { shasum: SHA1, tarball: `https://r/big-1.0.${i}.tgz` } };
    const body = Buffer.from(JSON.stringify({ name: 'big', versions }));
    const parser = createPackumentParser('https://r/big', { maxBytes: body.length, maxFiles: 1200 });
    for (let i = 0; i < body.length; i += 1000) parser.write(body.subarray(i, i + 1000));
    const steps = parser.end();
    let pauses = 0;
    let step = steps.next();
    for (; !step.done; step = steps.next()) pauses++;
    expect(pauses).toBeGreaterThanOrEqual(3);
    expect(step.value.files).toHaveLength(1200);
  });
});

describe('renderProject', () => {
  const page = parsePackument(JSON.stringify(leftPad()), BASE);
  /** What the gateway serves: the files it verified (here: those with a digest). */
  const served = { ...page, files: page.files.filter((f) => fileIdentity(f) !== undefined) };

  it('renders the full packument: every kept key, manifests with rewritten tarballs', () => {
    const chunks = [...renderProject('json', served, link)];
    const doc = JSON.parse(chunks.join(''));
    const upstream = leftPad();
    expect(Object.keys(doc.versions)).toEqual(['1.0.0', '1.3.0']);
    expect(doc.versions['1.3.0']).toEqual({
      ...upstream['versions']['1.3.0'],
      dist: { ...upstream['versions']['1.3.0'].dist, tarball: 'https://orchard.example/npm/left-pad/-/left-pad-1.3.0.tgz' },
    });
    expect(doc.versions['1.0.0'].deprecated).toBe('use String.prototype.padStart()');
    expect(doc['dist-tags']).toEqual({ latest: '1.3.0', legacy: '1.0.0' });
    expect(doc.time).toEqual(upstream['time']);
    for (const key of ['_id', '_rev', 'name', 'maintainers', 'readme', 'license', 'repository', 'users', 'description']) expect(doc[key], key).toEqual(upstream[key]);
  });

  it('round-trips: the rendered full packument parses back to the same files and renders the same again', () => {
    const body = [...renderProject('json', served, (f) => f.url)].join('');
    const again = parsePackument(body, BASE);
    const essentials = (f: ProjectFile) => ({ filename: f.filename, url: f.url, hashes: f.hashes, uploadTime: f.uploadTime });
    expect(again.files.map(essentials)).toEqual(served.files.map(essentials));
    expect(again.extra).toEqual({ ...served.extra, 'dist-tags': { latest: '1.3.0', legacy: '1.0.0' } });
    expect([...renderProject('json', again, (f) => f.url)].join('')).toBe(body);
  });

  it('renders the abbreviated packument with only the install fields', () => {
    const doc = JSON.parse([...renderProject('abbreviated', served, link)].join(''));
    expect(Object.keys(doc)).toEqual(['name', 'modified', 'dist-tags', 'versions']);
    expect(doc.modified).toBe('2022-06-19T23:01:00.000Z');
    expect(doc['dist-tags']).toEqual({ latest: '1.3.0', legacy: '1.0.0' });
    expect(doc.versions['1.3.0']).toEqual({
      name: 'left-pad',
      version: '1.3.0',
      dependencies: { 'is-number': '^7.0.0' },
      devDependencies: { tape: '*' },
      peerDependencies: { react: '>=16' },
      peerDependenciesMeta: { react: { optional: true } },
      engines: { node: '>=4' },
      os: ['!win32'],
      funding: 'https://example.com/fund',
      license: 'WTFPL',
      _hasShrinkwrap: false,
      hasInstallScript: true,
      dist: {
        tarball: 'https://orchard.example/npm/left-pad/-/left-pad-1.3.0.tgz',
        integrity: leftPad()['versions']['1.3.0'].dist.integrity,
        shasum: SHA1,
        fileCount: 9,
        unpackedSize: 11050,
        signatures: [{ keyid: 'SHA256:jl3bwswu80PjjokCgh0o2w5c2U4LhQAE57gj9cz1kzA', sig: 'MEUCIQ' }],
      },
    });
    expect(doc.versions['1.0.0']).toEqual({
      name: 'left-pad',
      version: '1.0.0',
      deprecated: 'use String.prototype.padStart()',
      dist: { tarball: 'https://orchard.example/npm/left-pad/-/left-pad-1.0.0.tgz', shasum: OLD_SHA1 },
    });
  });

  it('keeps a hasInstallScript the manifest already states, and takes modified from the top level', () => {
    const doc = {
      name: 'native',
      modified: '2020-01-01T00:00:00.000Z',
      versions: { '1.0.0': { name: 'native', version: '1.0.0', hasInstallScript: true, dist: { shasum: SHA1, tarball: 'https://r/native-1.0.0.tgz' } } },
    };
    const rendered = JSON.parse([...renderProject('abbreviated', parsePackument(JSON.stringify(doc), 'https://r/native'), link)].join(''));
    expect(rendered.modified).toBe('2020-01-01T00:00:00.000Z');
    expect(rendered.versions['1.0.0'].hasInstallScript).toBe(true);
    expect(rendered['dist-tags']).toBeUndefined();
  });

  it('renders a file that kept no manifest from its own fields', () => {
    const file: ProjectFile = { filename: 'bare-2.0.0.tgz', url: 'https://r/bare-2.0.0.tgz', hashes: { sha512: SHA512.toString('hex') } };
    const doc = JSON.parse([...renderProject('json', { name: 'bare', meta: { 'api-version': '1.0' }, files: [file] }, link)].join(''));
    expect(doc).toEqual({ name: 'bare', versions: { '2.0.0': { name: 'bare', version: '2.0.0', dist: { integrity: INTEGRITY, tarball: link(file) } } } });
  });

  it('yields many chunks for many versions', () => {
    const versions: Record<string, unknown> = {};
    for (let i = 0; i < 1000; i++) versions[`0.${i}.0`] = { name: 'many', version: `0.${i}.0`, dist: { shasum: SHA1, tarball: `https://r/many-0.${i}.0.tgz` } };
    const many = parsePackument(JSON.stringify({ name: 'many', versions }), 'https://r/many');
    for (const format of ['json', 'abbreviated'] as const) {
      const chunks = [...renderProject(format, many, link)];
      expect(chunks.length).toBeGreaterThanOrEqual(5);
      expect(Object.keys(JSON.parse(chunks.join('')).versions)).toHaveLength(1000);
    }
  });

  it('has no html format', () => {
    expect(() => renderProject('html', served, link)).toThrow(/no html/);
  });
});
