/**
 * Test fixtures: real, installable Python distributions built on the fly, and a static PEP 503
 * index tree to serve them from. Deterministic: the same options give the same bytes.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { ZipFile } from 'yazl';

/** Fixed timestamp so that archives are reproducible. */
const MTIME = new Date(Date.UTC(2020, 0, 1));

export interface WheelOptions {
  name: string;
  version: string;
  requiresDist?: string[];
  requiresPython?: string;
  summary?: string;
  /** Raw header lines appended to METADATA (e.g. "Provides-Extra: x"). */
  metadataExtra?: string;
  /** Extra files, by path inside the wheel. */
  files?: Record<string, string | Buffer>;
  /** Adds `<import_name>/_pad.bin` with this many pseudo-random (incompressible) bytes. */
  padBytes?: number;
}

export interface BuiltDist {
  filename: string;
  bytes: Buffer;
  sha256: string;
}

/** Wheel-spec escaping of a distribution name: runs of `-_.` → `_`, lower case. */
export function wheelName(name: string): string {
  return name.replace(/[-_.]+/g, '_').toLowerCase();
}

/** PEP 503 normalised project name. */
export function normalizedName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

export function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A valid, pip-installable pure-Python wheel, in memory. */
export async function buildWheel(opts: WheelOptions): Promise<BuiltDist & { metadata: Buffer }> {
  const layout = wheelLayout(opts);
  const zip = new ZipFile();
  const files = new Map(layout.files);
  if (opts.padBytes) files.set(layout.padPath, pseudoRandomBytes(opts.padBytes));
  const record: string[] = [];
  for (const [path, data] of files) {
    zip.addBuffer(data, path, { mtime: MTIME, compress: path !== layout.padPath });
    record.push(recordLine(path, data));
  }
  zip.addBuffer(Buffer.from(recordText(record, layout.recordPath)), layout.recordPath, { mtime: MTIME });
  zip.end();
  const bytes = await collect(zip.outputStream);
  return { filename: layout.filename, bytes, sha256: sha256Hex(bytes), metadata: layout.metadata };
}

/**
 * Like {@link buildWheel} but streamed to `path`, for wheels too big to hold in memory (the
 * padding is generated and hashed as it is written).
 */
export async function buildWheelToFile(path: string, opts: WheelOptions): Promise<{ filename: string; path: string; size: number; sha256: string; metadata: Buffer }> {
  const layout = wheelLayout(opts);
  const zip = new ZipFile();
  const record: string[] = [];
  for (const [name, data] of layout.files) {
    zip.addBuffer(data, name, { mtime: MTIME });
    record.push(recordLine(name, data));
  }
  const fileHash = createHash('sha256');
  let size = 0;
  const written = pipeline(
    zip.outputStream as Readable,
    new Transform({
      transform(chunk: Buffer, _enc, done) {
        fileHash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    }),
    createWriteStream(path),
  );
  if (opts.padBytes) {
    const padHash = createHash('sha256');
    const pad = pseudoRandomStream(opts.padBytes, (chunk) => padHash.update(chunk));
    const padDone = new Promise<void>((resolve, reject) => pad.on('end', resolve).on('error', reject));
    zip.addReadStream(pad, layout.padPath, { mtime: MTIME, compress: false, size: opts.padBytes });
    await padDone;
    record.push(`${layout.padPath},sha256=${padHash.digest('base64url')},${opts.padBytes}`);
  }
  zip.addBuffer(Buffer.from(recordText(record, layout.recordPath)), layout.recordPath, { mtime: MTIME });
  zip.end();
  await written;
  return { filename: layout.filename, path, size, sha256: fileHash.digest('hex'), metadata: layout.metadata };
}

interface WheelLayout {
  filename: string;
  metadata: Buffer;
  files: Array<[string, Buffer]>;
  padPath: string;
  recordPath: string;
}

function wheelLayout(opts: WheelOptions): WheelLayout {
  const dist = wheelName(opts.name);
  const version = opts.version.replace(/-/g, '_');
  const distInfo = `${dist}-${version}.dist-info`;
  const metadata = Buffer.from(metadataText({ ...opts, metadataVersion: '2.1' }), 'utf8');
  const wheel = 'Wheel-Version: 1.0\nGenerator: orchard-tests (1.0)\nRoot-Is-Purelib: true\nTag: py3-none-any\n';
  const files: Array<[string, Buffer]> = [[`${dist}/__init__.py`, Buffer.from(`__version__ = "${opts.version}"\n`)]];
  for (const [path, data] of Object.entries(opts.files ?? {})) files.push([path, Buffer.from(data)]);
  files.push([`${distInfo}/METADATA`, metadata], [`${distInfo}/WHEEL`, Buffer.from(wheel)]);
  return {
    filename: `${dist}-${version}-py3-none-any.whl`,
    metadata,
    files,
    padPath: `${dist}/_pad.bin`,
    recordPath: `${distInfo}/RECORD`,
  };
}

function metadataText(opts: {
  name: string;
  version: string;
  metadataVersion: string;
  summary?: string;
  requiresPython?: string;
  requiresDist?: string[];
  dynamic?: string[];
  metadataExtra?: string;
}): string {
  const lines = [`Metadata-Version: ${opts.metadataVersion}`, `Name: ${opts.name}`, `Version: ${opts.version}`];
  lines.push(`Summary: ${opts.summary ?? `Test package ${opts.name}`}`);
  if (opts.requiresPython) lines.push(`Requires-Python: ${opts.requiresPython}`);
  for (const d of opts.dynamic ?? []) lines.push(`Dynamic: ${d}`);
  for (const r of opts.requiresDist ?? []) lines.push(`Requires-Dist: ${r}`);
  let text = `${lines.join('\n')}\n`;
  if (opts.metadataExtra) text += opts.metadataExtra.endsWith('\n') ? opts.metadataExtra : `${opts.metadataExtra}\n`;
  return text;
}

/** A RECORD line: urlsafe-base64 sha256 without padding, and the size. */
function recordLine(path: string, data: Buffer): string {
  return `${csvField(path)},sha256=${createHash('sha256').update(data).digest('base64url')},${data.length}`;
}

function recordText(lines: string[], recordPath: string): string {
  return `${[...lines, `${csvField(recordPath)},,`].join('\n')}\n`;
}

function csvField(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Deterministic incompressible bytes (AES-CTR keystream). */
export function pseudoRandomBytes(n: number): Buffer {
  return keystream().update(Buffer.alloc(n));
}

function pseudoRandomStream(n: number, onChunk: (chunk: Buffer) => void): Readable {
  const cipher = keystream();
  let left = n;
  return new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const chunk = cipher.update(Buffer.alloc(Math.min(left, 1 << 20)));
      left -= chunk.length;
      onChunk(chunk);
      this.push(chunk);
    },
  });
}

function keystream() {
  return createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0));
}

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export interface SdistOptions {
  name: string;
  version: string;
  requiresDist?: string[];
  /** PKG-INFO `Dynamic:` fields (needs Metadata-Version ≥ 2.2, the default then). */
  dynamic?: string[];
  metadataVersion?: string;
  format?: 'tar.gz' | 'zip';
}

/** An sdist with a top-level `<name>-<version>/PKG-INFO`, a minimal pyproject.toml and setup.py. */
export async function buildSdist(opts: SdistOptions): Promise<BuiltDist & { pkgInfo: Buffer }> {
  const dist = wheelName(opts.name);
  const base = `${dist}-${opts.version}`;
  const metadataVersion = opts.metadataVersion ?? (opts.dynamic?.length ? '2.2' : '2.1');
  const pkgInfo = Buffer.from(metadataText({ ...opts, metadataVersion }));
  const setupPy = [
    'from setuptools import setup',
    '',
    'setup(',
    `    name=${JSON.stringify(opts.name)},`,
    `    version=${JSON.stringify(opts.version)},`,
    `    packages=[${JSON.stringify(dist)}],`,
    `    install_requires=${JSON.stringify(opts.requiresDist ?? [])},`,
    ')',
    '',
  ].join('\n');
  const pyproject = '[build-system]\nrequires = ["setuptools>=40.8.0"]\nbuild-backend = "setuptools.build_meta"\n';
  const entries: TarEntry[] = [
    { path: `${base}/PKG-INFO`, body: pkgInfo },
    { path: `${base}/pyproject.toml`, body: pyproject },
    { path: `${base}/setup.py`, body: setupPy },
    { path: `${base}/${dist}/__init__.py`, body: `__version__ = "${opts.version}"\n` },
  ];
  const format = opts.format ?? 'tar.gz';
  const bytes = format === 'zip' ? await buildZip(entries) : gzipSync(buildTar(entries));
  return { filename: `${base}.${format}`, bytes, sha256: sha256Hex(bytes), pkgInfo };
}

/** One member of a tar built by {@link buildTar}. */
export interface TarEntry {
  path: string;
  body?: string | Buffer;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink';
  linkpath?: string;
}

/**
 * A ustar archive, written by hand so tests can also build what well-behaved writers refuse
 * (absolute paths, `..`, links named PKG-INFO).
 */
export function buildTar(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = e.type === undefined || e.type === 'file' ? Buffer.from(e.body ?? '') : Buffer.alloc(0);
    blocks.push(tarHeader(e, body.length), body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

function tarHeader(e: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(512);
  let name = e.path;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`tar path too long: ${name}`);
    [prefix, name] = [name.slice(0, cut), name.slice(cut + 1)];
  }
  h.write(name, 0, 100);
  h.write(octal(e.type === 'dir' ? 0o755 : 0o644, 8), 100);
  h.write(octal(0, 8), 108);
  h.write(octal(0, 8), 116);
  h.write(octal(size, 12), 124);
  h.write(octal(Math.floor(MTIME.getTime() / 1000), 12), 136);
  h.write(' '.repeat(8), 148);
  h.write({ file: '0', hardlink: '1', symlink: '2', dir: '5' }[e.type ?? 'file'], 156);
  if (e.linkpath) h.write(e.linkpath, 157, 100);
  h.write('ustar\u000000', 257, 'latin1');
  h.write(prefix, 345, 155);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'latin1');
  return h;
}

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\u0000`;
}

async function buildZip(entries: TarEntry[]): Promise<Buffer> {
  const zip = new ZipFile();
  for (const e of entries) zip.addBuffer(Buffer.from(e.body ?? ''), e.path, { mtime: MTIME });
  zip.end();
  return collect(zip.outputStream);
}

/** One file of a project in {@link writeSimpleIndex}. */
export interface IndexFile {
  filename: string;
  /** The file's bytes; or, for files too large for memory, `existing` (already under `<root>/files/`). */
  bytes?: Buffer;
  existing?: { sha256: string };
  requiresPython?: string;
  /** PEP 592: true, or the reason. */
  yanked?: string | true;
}

/**
 * Writes a static PEP 503 tree: `<root>/simple/index.html`, `<root>/simple/<normalized>/index.html`
 * linking `../../files/<filename>#sha256=<hex>`, and the files under `<root>/files/`.
 *
 * @returns the distribution files written, with their path and sha256.
 */
export async function writeSimpleIndex(
  root: string,
  projects: Array<{ name: string; files: IndexFile[] }>,
): Promise<Array<{ project: string; filename: string; path: string; sha256: string }>> {
  const written: Array<{ project: string; filename: string; path: string; sha256: string }> = [];
  await mkdir(join(root, 'files'), { recursive: true });
  const rootLinks: string[] = [];
  for (const project of projects) {
    const norm = normalizedName(project.name);
    rootLinks.push(`<a href="${escapeHtml(norm)}/">${escapeHtml(project.name)}</a>`);
    const links: string[] = [];
    for (const f of project.files) {
      const path = join(root, 'files', f.filename);
      if (!f.bytes && !f.existing) throw new Error(`${f.filename}: give bytes or existing`);
      const sha256 = f.bytes ? sha256Hex(f.bytes) : f.existing!.sha256;
      if (f.bytes) await writeFile(path, f.bytes);
      written.push({ project: project.name, filename: f.filename, path, sha256 });
      let attrs = `href="../../files/${encodeURIComponent(f.filename)}#sha256=${sha256}"`;
      if (f.requiresPython) attrs += ` data-requires-python="${escapeHtml(f.requiresPython)}"`;
      if (f.yanked !== undefined) attrs += ` data-yanked="${f.yanked === true ? '' : escapeHtml(f.yanked)}"`;
      links.push(`<a ${attrs}>${escapeHtml(f.filename)}</a><br/>`);
    }
    await mkdir(join(root, 'simple', norm), { recursive: true });
    await writeFile(join(root, 'simple', norm, 'index.html'), htmlPage(`Links for ${project.name}`, links));
  }
  await writeFile(join(root, 'simple', 'index.html'), htmlPage('Simple index', rootLinks));
  return written;
}

function htmlPage(title: string, links: string[]): string {
  return [
    '<!DOCTYPE html>',
    '<html>',
    '<head><meta name="pypi:repository-version" content="1.0">',
    `<title>${escapeHtml(title)}</title></head>`,
    '<body>',
    `<h1>${escapeHtml(title)}</h1>`,
    ...links,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
