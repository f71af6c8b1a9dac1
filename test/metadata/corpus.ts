/**
 * A generated corpus of wheels and sdists whose declared requirements are known from the structure
 * they were rendered from, not from the parser under test: each requirement is built as parts
 * (name, extras, specifier clauses, URL, marker atoms) and written out in one of the spellings real
 * METADATA files use (mixed case, `_`/`.` in names, parenthesised specifiers, odd spacing, `extra ==`
 * in several forms, `name @ url`). The expected database row is computed from the parts.
 * Deterministic for a given seed. Shared by test/metadata/corpus.test.ts and bench/extraction.ts.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { ZipFile } from 'yazl';
import { buildTar } from '../support/dists.js';
import { seededRandom } from '../support/random.js';

/** What the extractor must store for one requirement. */
export interface ExpectedDependency {
  name: string;
  specifier: string;
  extras: string[];
  marker: string | null;
  url: string | null;
  extra: string | null;
  raw: string;
}

/** One generated distribution and what extraction must record for it. */
export interface CorpusFile {
  filename: string;
  /** The project as the index names it (what the fetch job carries). */
  project: string;
  version: string;
  kind: 'wheel' | 'sdist';
  metadataVersion: string;
  bytes: Buffer;
  sha256: string;
  /** The METADATA / PKG-INFO bytes inside the archive. */
  metadata: Buffer;
  requiresPython: string | null;
  dependenciesKnown: boolean;
  dependencies: ExpectedDependency[];
}

export interface CorpusOptions {
  seed?: number;
  wheels?: number;
  sdists?: number;
  /** Most requirements per file (default 24). */
  maxRequirements?: number;
}

const MTIME = new Date(Date.UTC(2020, 0, 1));

class Random {
  constructor(readonly next: () => number) {}
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

const normalize = (name: string) => name.replace(/[-_.]+/g, '-').toLowerCase();

const NAME_PARTS = [
  'zope',
  'Interface',
  'typing',
  'extensions',
  'Py',
  'YAML',
  'ruamel',
  'yaml',
  'clib',
  'attrs',
  'six',
  'Django',
  'rest',
  'framework',
  'google',
  'cloud',
  'storage',
  'X',
  'lib',
  'core',
];
const SEPARATORS = ['-', '_', '.', '-', '__', '._'];
const EXTRA_NAMES = ['test', 'Dev', 'docs', 'socks', 'Fast_IO', 'all', 'crypto.v2', 'S3'];

function projectName(r: Random, i: number): string {
  const parts = Array.from({ length: r.int(1, 3) }, () => r.pick(NAME_PARTS));
  let name = parts[0]!;
  for (const part of parts.slice(1)) name += r.pick(SEPARATORS) + part;
  return `${name}${r.pick(SEPARATORS)}${i}`;
}

/** A valid PEP 440 version for `op` (wildcards only with == and !=, ~= needs two components). */
function versionFor(r: Random, op: string): string {
  const parts = Array.from({ length: r.int(op === '~=' ? 2 : 1, 3) }, () => String(r.int(0, 20)));
  if ((op === '==' || op === '!=') && r.chance(0.3)) return `${parts.join('.')}.*`;
  const pre = r.chance(0.15) ? r.pick(['a1', 'b2', 'rc1', '.post1', '.dev0']) : '';
  return parts.join('.') + pre;
}

const MARKER_ATOMS = [
  'python_version < "3.8"',
  "python_version >= '3.9'",
  'python_full_version < "3.11.2"',
  'sys_platform == "win32"',
  "sys_platform != 'darwin'",
  'os_name == "nt"',
  'platform_machine != "arm64"',
  'implementation_name == "cpython"',
  'platform_python_implementation == "PyPy"',
  '"linux" in sys_platform',
  'platform_system == "Linux"',
];

/** Builds a marker from atoms with and/or/parentheses; the extra clause, if any, is placed so its activating role is known. */
function marker(r: Random, extraName: string | undefined): { text: string; extra: string | null } {
  const atoms = Array.from({ length: r.int(0, 3) }, () => r.pick(MARKER_ATOMS));
  let env = '';
  if (atoms.length === 1) env = atoms[0]!;
  else if (atoms.length === 2) env = `${atoms[0]} ${r.pick(['and', 'or'])} ${atoms[1]}`;
  else if (atoms.length === 3) env = r.chance(0.5) ? `(${atoms[0]} or ${atoms[1]}) and ${atoms[2]}` : `${atoms[0]} and ${atoms[1]} or ${atoms[2]}`;
  if (extraName === undefined) return { text: env === '' ? 'python_version >= "3"' : env, extra: null };
  const clause = r.pick([`extra == "${extraName}"`, `extra=='${extraName}'`, `'${extraName}' == extra`, `extra  ==  "${extraName}"`]);
  if (env === '') return { text: clause, extra: normalize(extraName) };
  // Under `or` no single extra activates the requirement; as a top-level conjunct it does.
  if (r.chance(0.2)) return { text: `${clause} or ${env.includes(' or ') ? `(${env})` : env}`, extra: null };
  const wrapped = env.includes(' or ') ? `(${env})` : env;
  return { text: r.chance(0.5) ? `${wrapped} and ${clause}` : `${clause} and ${wrapped}`, extra: normalize(extraName) };
}

/** One requirement: its text as written and the row the extractor must store. */
function requirement(r: Random, index: number): ExpectedDependency {
  const name = `${projectName(r, index)}`;
  const extras = r.chance(0.25) ? Array.from({ length: r.int(1, 2) }, () => r.pick(EXTRA_NAMES)).filter((e, i, all) => all.indexOf(e) === i) : [];
  let raw = name;
  if (extras.length > 0) raw += r.pick(['', ' ']) + `[${extras.join(r.pick([',', ', ', ' , ']))}]`;
  let specifier = '';
  let url: string | null = null;
  if (r.chance(0.1)) {
    url = `https://files.example/${normalize(name)}/${normalize(name).replace(/-/g, '_')}-1.0-py3-none-any.whl#sha256=${'ab'.repeat(32)}`;
    raw += r.pick([' @ ', '@', ' @']) + url;
  } else if (r.chance(0.8)) {
    const ops = ['>=', '<', '==', '!=', '~=', '<=', '>', '==='];
    const clauses = Array.from({ length: r.int(1, 3) }, () => {
      const op = r.pick(ops);
      return { op, version: op === '===' ? 'weird-1.0' : versionFor(r, op) };
    });
    specifier = clauses.map((c) => c.op + c.version).join(',');
    const written = clauses.map((c) => `${c.op}${r.pick(['', ' '])}${c.version}`).join(r.pick([',', ', ', ' ,']));
    raw += r.chance(0.3) ? ` (${written})` : `${r.pick(['', ' '])}${written}`;
  }
  let markerText: string | null = null;
  let extra: string | null = null;
  if (r.chance(0.5)) {
    const m = marker(r, r.chance(0.4) ? r.pick(EXTRA_NAMES) : undefined);
    markerText = m.text;
    extra = m.extra;
    // After a URL the `;` needs whitespace before it (PEP 508).
    raw += `${url ? ' ' : r.pick(['', ' '])};${r.pick(['', ' ', '  '])}${m.text}`;
  }
  return { name: normalize(name), specifier, extras, marker: markerText, url, extra, raw };
}

function requirements(r: Random, max: number): ExpectedDependency[] {
  const out: ExpectedDependency[] = [];
  const count = r.int(0, max);
  for (let i = 0; out.length < count; i++) {
    const req = requirement(r, i);
    if (!out.some((o) => o.raw === req.raw)) out.push(req);
  }
  return out;
}

function metadataText(fields: Array<[string, string]>, body?: string): Buffer {
  const head = fields.map(([k, v]) => `${k}: ${v}`).join('\n');
  return Buffer.from(body === undefined ? `${head}\n` : `${head}\n\n${body}`);
}

async function zipOf(entries: Array<[string, Buffer | string]>): Promise<Buffer> {
  const zip = new ZipFile();
  for (const [path, data] of entries) zip.addBuffer(Buffer.from(data), path, { mtime: MTIME });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const WHEEL_METADATA_VERSIONS = ['2.1', '2.2', '2.3', '2.4'];
/** Sdist metadata versions and whether their dependencies are then known (PEP 643). */
const SDIST_VARIANTS: Array<{ version: string; dynamic: boolean; legacy?: boolean; known: boolean }> = [
  { version: '1.0', dynamic: false, known: false },
  { version: '1.1', dynamic: false, legacy: true, known: false },
  { version: '1.2', dynamic: false, known: false },
  { version: '2.1', dynamic: false, known: false },
  { version: '2.2', dynamic: false, known: true },
  { version: '2.2', dynamic: true, known: false },
  { version: '2.4', dynamic: false, known: true },
  { version: '2.4', dynamic: true, known: false },
];

function commonFields(r: Random, metadataVersion: string, name: string, version: string, requiresPython: string | null): Array<[string, string]> {
  const fields: Array<[string, string]> = [
    ['Metadata-Version', metadataVersion],
    ['Name', name],
    ['Version', version],
    ['Summary', `Generated package ${name}`],
  ];
  if (requiresPython) fields.push(['Requires-Python', requiresPython]);
  fields.push(['Classifier', 'Programming Language :: Python :: 3'], ['Classifier', 'License :: OSI Approved :: MIT License']);
  if (metadataVersion === '2.4') fields.push(['License-Expression', r.pick(['MIT', 'Apache-2.0 OR MIT'])]);
  return fields;
}

async function wheel(r: Random, i: number, maxRequirements: number): Promise<CorpusFile> {
  const name = projectName(r, i);
  const version = `${r.int(0, 9)}.${r.int(0, 30)}.${r.int(0, 9)}`;
  const metadataVersion = r.pick(WHEEL_METADATA_VERSIONS);
  const requiresPython = r.chance(0.6) ? r.pick(['>=3.8', '>=3.9,<4', '!=3.0.*,>=2.7']) : null;
  const deps = requirements(r, maxRequirements);
  const fields = commonFields(r, metadataVersion, name, version, requiresPython);
  for (const extra of new Set(deps.flatMap((d) => (d.extra ? [d.extra] : [])))) fields.push(['Provides-Extra', extra]);
  for (const d of deps) fields.push(['Requires-Dist', d.raw]);
  const metadata = metadataText(fields, r.chance(0.7) ? `# ${name}\n\nA description body.\nRequires-Dist: not-a-header-in-the-body\n` : undefined);
  const dist = name.replace(/[-_.]+/g, '_').toLowerCase();
  const distInfo = `${dist}-${version}.dist-info`;
  const files: Array<[string, Buffer | string]> = [
    [`${dist}/__init__.py`, `__version__ = "${version}"\n`],
    ...Array.from({ length: r.int(0, 20) }, (_, k): [string, string] => [`${dist}/mod_${k}.py`, `X = ${k}\n`.repeat(r.int(1, 200))]),
    [`${distInfo}/METADATA`, metadata],
    [`${distInfo}/WHEEL`, 'Wheel-Version: 1.0\nGenerator: orchard-corpus\nRoot-Is-Purelib: true\nTag: py3-none-any\n'],
    [`${distInfo}/RECORD`, ''],
  ];
  const bytes = await zipOf(files);
  return {
    filename: `${dist}-${version}-py3-none-any.whl`,
    project: name,
    version,
    kind: 'wheel',
    metadataVersion,
    bytes,
    sha256: sha256Hex(bytes),
    metadata,
    requiresPython,
    dependenciesKnown: true,
    dependencies: deps,
  };
}

async function sdist(r: Random, i: number, maxRequirements: number): Promise<CorpusFile> {
  const name = projectName(r, 1000 + i);
  const version = `${r.int(0, 9)}.${r.int(0, 30)}`;
  const variant = r.pick(SDIST_VARIANTS);
  const requiresPython = variant.version >= '1.2' && r.chance(0.5) ? '>=3.8' : null;
  // Metadata 1.0 has no dependency field at all; 1.1 has the older `Requires`.
  let deps = variant.version === '1.0' ? [] : requirements(r, maxRequirements);
  if (variant.legacy) deps = deps.filter((d) => d.marker === null && d.url === null && d.extras.length === 0);
  const fields = commonFields(r, variant.version, name, version, requiresPython);
  if (variant.dynamic) fields.push(['Dynamic', r.pick(['Requires-Dist', 'requires-dist'])]);
  for (const d of deps) fields.push([variant.legacy ? 'Requires' : 'Requires-Dist', d.raw]);
  const metadata = metadataText(fields, r.chance(0.5) ? 'Long description.\n' : undefined);
  const base = `${name.replace(/[-_.]+/g, '_').toLowerCase()}-${version}`;
  const format = r.pick(['tar.gz', 'tar.gz', 'tar.gz', 'zip', 'tar'] as const);
  const members: Array<[string, Buffer | string]> = [
    [`${base}/setup.py`, 'from setuptools import setup\nsetup()\n'],
    [`${base}/src/${base}/vendored/PKG-INFO`, 'Metadata-Version: 2.1\nName: decoy\nVersion: 9\nRequires-Dist: decoy-dep\n'],
    [`${base}/PKG-INFO`, metadata],
    [`${base}/pyproject.toml`, '[build-system]\nrequires = ["setuptools"]\n'],
    ...Array.from({ length: r.int(0, 10) }, (_, k): [string, string] => [`${base}/src/m${k}.py`, 'pass\n'.repeat(r.int(1, 500))]),
  ];
  const tar = () => buildTar(members.map(([path, body]) => ({ path, body })));
  const bytes = format === 'zip' ? await zipOf(members) : format === 'tar' ? tar() : gzipSync(tar());
  return {
    filename: `${base}.${format}`,
    project: name,
    version,
    kind: 'sdist',
    metadataVersion: variant.version,
    bytes,
    sha256: sha256Hex(bytes),
    metadata,
    requiresPython,
    dependenciesKnown: variant.known,
    dependencies: deps,
  };
}

function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Generates `wheels` wheels and `sdists` sdists (defaults 60 and 40). */
export async function generateCorpus(options: CorpusOptions = {}): Promise<CorpusFile[]> {
  const r = new Random(seededRandom(options.seed ?? 20261126));
  const max = options.maxRequirements ?? 24;
  const files: CorpusFile[] = [];
  for (let i = 0; i < (options.wheels ?? 60); i++) files.push(await wheel(r, i, max));
  for (let i = 0; i < (options.sdists ?? 40); i++) files.push(await sdist(r, i, max));
  return files;
}
