import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { buildSdist, buildWheel, sha256Hex, writeSimpleIndex } from './dists.js';

const run = promisify(execFile);
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'orchard-dists-'));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** The child environment without any PIP_* variable, so local pip configuration cannot leak in. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toUpperCase().startsWith('PIP_')));
}

/** Checks every RECORD row against the wheel's members, and that every member is listed. */
const VERIFY_RECORD = `
import base64, csv, hashlib, io, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
record = [n for n in z.namelist() if n.endswith('.dist-info/RECORD')][0]
rows = list(csv.reader(io.StringIO(z.read(record).decode())))
assert sorted(r[0] for r in rows) == sorted(z.namelist()), 'RECORD does not list every file'
for path, digest, size in rows:
    if path == record:
        assert digest == '' and size == '', 'RECORD lists its own hash'
        continue
    data = z.read(path)
    algo, value = digest.split('=', 1)
    assert algo == 'sha256' and '=' not in value, digest
    assert base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode() == value, path
    assert int(size) == len(data), path
print('RECORD ok: %d files' % (len(rows) - 1))
`;

describe('buildWheel', () => {
  it('builds a wheel that pip installs (RECORD hashes verified)', async () => {
    const wheel = await buildWheel({
      name: 'Orchard.Test-Pkg',
      version: '1.2.3',
      requiresDist: ['requests>=2', 'idna; extra == "x"'],
      requiresPython: '>=3.8',
      metadataExtra: 'Provides-Extra: x',
      files: { 'orchard_test_pkg/data.txt': 'hello\n' },
      padBytes: 10_000,
    });
    expect(wheel.filename).toBe('orchard_test_pkg-1.2.3-py3-none-any.whl');
    expect(wheel.sha256).toBe(sha256Hex(wheel.bytes));
    expect(wheel.metadata.toString()).toContain('Requires-Dist: idna; extra == "x"\n');

    const dir = await tempDir();
    const wheelPath = join(dir, wheel.filename);
    await writeFile(wheelPath, wheel.bytes);
    const target = join(dir, 'target');
    await run('python3', ['-m', 'pip', 'install', '--isolated', '--no-index', '--no-deps', '--disable-pip-version-check', '--target', target, wheelPath], {
      env: cleanEnv(),
      timeout: 120_000,
    });
    expect(existsSync(join(target, 'orchard_test_pkg', '__init__.py'))).toBe(true);
    expect(await readFile(join(target, 'orchard_test_pkg', '__init__.py'), 'utf8')).toBe('__version__ = "1.2.3"\n');
    expect(existsSync(join(target, 'orchard_test_pkg-1.2.3.dist-info', 'METADATA'))).toBe(true);

    // pip 23 does not check RECORD hashes itself (newer tools do): check them with Python's own code.
    const { stdout } = await run('python3', ['-c', VERIFY_RECORD, wheelPath], { env: cleanEnv(), timeout: 60_000 });
    expect(stdout.trim()).toBe('RECORD ok: 5 files');
  });

  it('is deterministic', async () => {
    const a = await buildWheel({ name: 'a', version: '1.0', padBytes: 100 });
    const b = await buildWheel({ name: 'a', version: '1.0', padBytes: 100 });
    expect(a.sha256).toBe(b.sha256);
  });
});

describe('buildSdist', () => {
  it('puts PKG-INFO at <name>-<version>/PKG-INFO', async () => {
    const sdist = await buildSdist({ name: 'My-Pkg', version: '2.0', requiresDist: ['six'], dynamic: ['Requires-Dist'] });
    expect(sdist.filename).toBe('my_pkg-2.0.tar.gz');
    expect(sdist.pkgInfo.toString()).toMatch(/^Metadata-Version: 2\.2\nName: My-Pkg\nVersion: 2\.0\n/);
    expect(gunzipSync(sdist.bytes).subarray(0, 100).toString('latin1')).toMatch(/^my_pkg-2\.0\/PKG-INFO\0/);
  });
});

describe('writeSimpleIndex', () => {
  it('writes a PEP 503 tree with hashes and escaped attributes', async () => {
    const root = await tempDir();
    const wheel = await buildWheel({ name: 'Foo_Bar', version: '1.0' });
    const written = await writeSimpleIndex(root, [{ name: 'Foo_Bar', files: [{ filename: wheel.filename, bytes: wheel.bytes, requiresPython: '>=3.8,<4', yanked: 'bad "x"' }] }]);
    expect(written).toEqual([{ project: 'Foo_Bar', filename: wheel.filename, path: join(root, 'files', wheel.filename), sha256: wheel.sha256 }]);
    expect(await readFile(join(root, 'simple', 'index.html'), 'utf8')).toContain('<a href="foo-bar/">Foo_Bar</a>');
    const page = await readFile(join(root, 'simple', 'foo-bar', 'index.html'), 'utf8');
    expect(page).toContain(`href="../../files/${wheel.filename}#sha256=${wheel.sha256}"`);
    expect(page).toContain('data-requires-python="&gt;=3.8,&lt;4"');
    expect(page).toContain('data-yanked="bad &quot;x&quot;"');
    expect(await readFile(join(root, 'files', wheel.filename))).toEqual(wheel.bytes);
  });
});
