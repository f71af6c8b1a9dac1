/**
 * Real-world oddities, end to end from archive bytes to parsed requirements: mixed-case and
 * underscore names, markers with and/or/parentheses, `extra == "…"` spellings, `name @ url`, folded
 * lines, CRLF, a BOM, non-UTF-8 bytes, every metadata version, and PEP 643's "dependencies unknown".
 */
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { ZipFile } from 'yazl';
import { describe, expect, it } from 'vitest';
import { buildTar } from '../../../test/support/dists.js';
import { bufferRangeSource, UnsupportedArchiveError } from './archive/index.js';
import { MetadataError, RequirementError } from './errors.js';
import { MAX_METADATA_BYTES, MAX_REQUIREMENTS } from './metadata-bounds.js';
import { extractDistributionMetadata, type DistributionSource } from './read-distribution.js';

async function zipOf(entries: Array<[string, Buffer | string]>): Promise<Buffer> {
  const zip = new ZipFile();
  for (const [name, data] of entries) zip.addBuffer(Buffer.from(data), name);
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function source(bytes: Buffer): DistributionSource {
  return { ...bufferRangeSource(bytes), open: async () => Readable.from([bytes]) };
}

async function wheel(metadata: Buffer | string, name = 'odd_pkg', version = '1.0') {
  const bytes = await zipOf([
    [`${name}-${version}.dist-info/METADATA`, metadata],
    [`${name}/__init__.py`, ''],
  ]);
  return extractDistributionMetadata(`${name}-${version}-py3-none-any.whl`, source(bytes));
}

async function sdist(pkgInfo: Buffer | string, format: 'tar.gz' | 'zip' = 'tar.gz') {
  const entries: Array<[string, Buffer | string]> = [
    ['odd_pkg-1.0/PKG-INFO', pkgInfo],
    ['odd_pkg-1.0/setup.py', ''],
  ];
  const bytes = format === 'zip' ? await zipOf(entries) : gzipSync(buildTar(entries.map(([path, body]) => ({ path, body }))));
  return extractDistributionMetadata(`odd_pkg-1.0.${format}`, source(bytes));
}

const head = (version: string) => `Metadata-Version: ${version}\nName: Odd_Pkg\nVersion: 1.0\n`;

describe('requirements as real METADATA files write them', () => {
  it('normalises mixed-case, dotted and underscored names; keeps extras as written', async () => {
    const { requirements } = await wheel(`${head('2.1')}Requires-Dist: Django_REST.framework (>=3.14)\nRequires-Dist: zope.interface[Test_Extra,docs]>=5\nRequires-Dist: PyYAML\n`);
    expect(requirements.map((r) => [r.name, r.normalizedName, r.extras, r.specifier])).toEqual([
      ['Django_REST.framework', 'django-rest-framework', [], '>=3.14'],
      ['zope.interface', 'zope-interface', ['Test_Extra', 'docs'], '>=5'],
      ['PyYAML', 'pyyaml', [], ''],
    ]);
  });

  it('finds the activating extra in every spelling, and none under `or`', async () => {
    const lines = [
      'a; extra == "test"',
      "b ; extra=='Test'",
      "c; 'DOCS' == extra",
      'd; (python_version < "3.8" or os_name == "nt") and extra == "Fast_IO"',
      'e; extra == "crypto.v2" and (sys_platform == "win32" or sys_platform == "cygwin")',
      'f; extra == "a" or extra == "b"',
      'g; python_version >= "3.8" and platform_machine != "arm64" or extra == "x"',
      'h; extra != "x"',
    ];
    const { requirements } = await wheel(`${head('2.1')}${lines.map((l) => `Requires-Dist: ${l}\n`).join('')}`);
    expect(requirements.map((r) => [r.normalizedName, r.extra ?? null])).toEqual([
      ['a', 'test'],
      ['b', 'test'],
      ['c', 'docs'],
      ['d', 'fast-io'],
      ['e', 'crypto-v2'],
      ['f', null],
      ['g', null],
      ['h', null],
    ]);
    expect(requirements[3]!.marker).toBe('(python_version < "3.8" or os_name == "nt") and extra == "Fast_IO"');
  });

  it('reads direct references (`name @ url`), with extras and a marker', async () => {
    const { requirements } = await wheel(
      `${head('2.1')}Requires-Dist: Local_Lib[x] @ file:///srv/wheels/local_lib-1.0-py3-none-any.whl ; python_version >= "3.9"\nRequires-Dist: other@https://h.example/o.tar.gz#sha256=abc\n`,
    );
    expect(requirements).toEqual([
      expect.objectContaining({
        normalizedName: 'local-lib',
        extras: ['x'],
        url: 'file:///srv/wheels/local_lib-1.0-py3-none-any.whl',
        marker: 'python_version >= "3.9"',
        specifier: '',
      }),
      expect.objectContaining({ normalizedName: 'other', url: 'https://h.example/o.tar.gz#sha256=abc' }),
    ]);
  });

  it('unfolds folded header lines, CRLF endings and a BOM; the body is not headers', async () => {
    const text = `\ufeff${head('2.1')}Summary: a summary\r\n  folded over two lines\r\nRequires-Dist: foo>=1,\r\n  <2 ;\r\n\tpython_version < "3.12"\r\nRequires-Dist: bar\r\n\r\nRequires-Dist: not-a-dependency\r\n`;
    const { metadata, requirements } = await wheel(text.replace(/(?<!\r)\n/g, '\r\n'));
    expect(metadata.summary).toBe('a summary folded over two lines');
    expect(requirements.map((r) => r.raw)).toEqual(['foo>=1, <2 ; python_version < "3.12"', 'bar']);
    expect(requirements[0]).toMatchObject({ specifier: '>=1,<2', marker: 'python_version < "3.12"' });
    expect(metadata.description).toContain('Requires-Dist: not-a-dependency');
  });

  it('reads non-UTF-8 bytes as latin-1 and still parses the requirements', async () => {
    const bytes = Buffer.concat([Buffer.from(`${head('1.2')}Author: `), Buffer.from([0x4a, 0xfc, 0x72, 0x67, 0x65, 0x6e]), Buffer.from('\nRequires-Dist: six\n')]);
    const { metadata, requirements } = await wheel(bytes);
    expect(metadata.fields['author']).toEqual(['Jürgen']);
    expect(metadata.invalidUtf8).toBe(true);
    expect(requirements.map((r) => r.normalizedName)).toEqual(['six']);
  });

  it('refuses text it cannot decode and absurd requirements', async () => {
    await expect(wheel(Buffer.from(`\ufeff${head('2.1')}`, 'utf16le'))).rejects.toThrow(MetadataError);
    await expect(wheel(Buffer.from(`${head('2.1')}Summary: a\u0000b\n`))).rejects.toThrow(/undecodable METADATA: contains NUL/);
    await expect(wheel(`${head('2.1')}Requires-Dist: x @ https://h/${'a'.repeat(2100)}\n`)).rejects.toThrow(RequirementError);
    await expect(wheel(`${head('2.1')}Requires-Dist: six\nRequires-Dist: bad name here\n`)).rejects.toThrow(RequirementError);
  });
});

describe('metadata versions 1.0 to 2.4', () => {
  it.each([
    ['1.0', 'tar.gz', '', [], false],
    ['1.1', 'tar.gz', 'Requires: xml.parsers.expat (>1.0, <2)\nRequires: re\n', ['xml-parsers-expat >1.0,<2', 're '], false],
    ['1.2', 'zip', 'Requires-Dist: six (>=1.10)\nRequires-Python: >=2.7\n', ['six >=1.10'], false],
    ['2.0', 'tar.gz', 'Requires-Dist: six\n', ['six '], false],
    ['2.1', 'tar.gz', 'Requires-Dist: six\n', ['six '], false],
    ['2.2', 'tar.gz', 'Requires-Dist: six\nDynamic: Summary\n', ['six '], true],
    ['2.2', 'zip', '', [], true],
    ['2.3', 'tar.gz', 'Dynamic: requires-dist\n', [], false],
    ['2.4', 'tar.gz', 'License-Expression: MIT\nRequires-Dist: six\nDynamic: Requires-Dist\n', ['six '], false],
  ] as const)('sdist %s (%s): requirements and whether they are known', async (version, format, extra, expected, known) => {
    const result = await sdist(`${head(version)}${extra}`, format);
    expect(result.metadata.metadataVersion).toBe(version);
    expect(result.requirements.map((r) => `${r.normalizedName} ${r.specifier}`)).toEqual(expected);
    expect(result.dependenciesKnown).toBe(known);
  });

  it('takes a wheel at its word whatever its metadata version, and keeps 2.4 fields', async () => {
    const old = await wheel(`${head('1.1')}Requires: six\n`);
    expect([old.dependenciesKnown, old.requirements.map((r) => r.normalizedName)]).toEqual([true, ['six']]);
    const modern = await wheel(
      `${head('2.4')}License-Expression: MIT OR Apache-2.0\nLicense-File: LICENSE\nProvides-Extra: fast\nRequires-Dist: six\nRequires: ignored-when-requires-dist-exists\n`,
    );
    expect(modern.dependenciesKnown).toBe(true);
    expect(modern.metadata).toMatchObject({ licenseExpression: 'MIT OR Apache-2.0', providesExtra: ['fast'] });
    expect(modern.requirements.map((r) => r.normalizedName)).toEqual(['six']);
    expect((await wheel(head('2.1'))).dependenciesKnown).toBe(true);
  });

  it('reports unsupported formats as such', async () => {
    await expect(extractDistributionMetadata('x-1.0.tar.bz2', source(Buffer.from('BZh9')))).rejects.toBeInstanceOf(UnsupportedArchiveError);
    await expect(extractDistributionMetadata('x-1.0-py2.7.egg', source(Buffer.from('PK')))).rejects.toThrow(/eggs/);
    await expect(extractDistributionMetadata('x-1.0.msi', source(Buffer.from('')))).rejects.toThrow(/not a wheel or an sdist/);
  });
});

describe('bounds no real distribution reaches', () => {
  const requiring = (n: number, field = 'Requires-Dist') => Array.from({ length: n }, (_, i) => `${field}: dep${i}\n`).join('');

  it(`accepts ${MAX_REQUIREMENTS} requirements and refuses one more, in METADATA and in a legacy PKG-INFO`, async () => {
    expect((await wheel(head('2.1') + requiring(MAX_REQUIREMENTS))).requirements).toHaveLength(MAX_REQUIREMENTS);
    const tooMany = wheel(head('2.1') + requiring(MAX_REQUIREMENTS + 1));
    await expect(tooMany).rejects.toBeInstanceOf(MetadataError);
    await expect(tooMany).rejects.toMatchObject({ reason: `METADATA declares ${MAX_REQUIREMENTS + 1} requirements, more than the ${MAX_REQUIREMENTS} accepted` });
    await expect(sdist(head('1.1') + requiring(MAX_REQUIREMENTS + 1, 'Requires'))).rejects.toMatchObject({ reason: /^PKG-INFO declares/ });
  });

  it(`refuses METADATA over ${MAX_METADATA_BYTES} bytes before reading it`, async () => {
    const padded = head('2.1') + `Summary: ${'x'.repeat(MAX_METADATA_BYTES)}\n`;
    await expect(wheel(padded)).rejects.toMatchObject({ reason: 'METADATA larger than 4 MiB' });
    await expect(sdist(padded)).rejects.toMatchObject({ reason: 'PKG-INFO larger than 4 MiB' });
  });
});
