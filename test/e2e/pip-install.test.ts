import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel } from '../support/dists.js';
import { startTestS3, type TestS3, s3ServiceEnv } from '../support/s3.js';
import { blobKey, createBlobStore, metadataKey, type BlobStore } from '../../libs/storage/index.js';
import { OrchardProcesses } from '../support/orchard.js';
import { runPip } from '../support/pip.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { waitFor } from '../support/wait.js';

/** The dependency tree the upstream publishes: app → lib-a → lib-c, app → Lib_B; plus decoys. */
const TREE = [
  { name: 'app', version: '1.0.0', requiresDist: ['lib-a>=1.0', 'Lib_B[fast]<3; python_version >= "3.7"', 'never-installed; extra == "docs"'] },
  { name: 'lib-a', version: '1.0.0', requiresDist: ['lib.c (>=0.5)'] },
  { name: 'lib-a', version: '0.9.0', requiresDist: [] },
  { name: 'Lib_B', version: '2.0.0', requiresDist: ['lib-c; extra == "fast"'], metadataExtra: 'Provides-Extra: fast' },
  { name: 'lib.c', version: '0.5.0', requiresDist: [] },
];

describe.each(['fs', 's3'] as const)('pip installs through the gateway, end to end (%s storage)', (storage) => {
  const upstream = new FakeUpstream();
  let orchard: OrchardProcesses;
  let db: pg.Client;
  let s3: TestS3 | undefined;
  /** The same store the services use, to check what they wrote. */
  let store: BlobStore;
  const wheels = new Map<string, { filename: string; sha256: string; requiresDist: string[] }>();

  beforeAll(async () => {
    upstream.format = 'html';
    for (const spec of TREE) {
      const wheel = await buildWheel(spec);
      upstream.publish(spec.name, { filename: wheel.filename, bytes: wheel.bytes });
      wheels.set(wheel.filename, { filename: wheel.filename, sha256: wheel.sha256, requiresDist: spec.requiresDist });
    }
    const evil = await buildWheel({ name: 'evil', version: '1.0.0' });
    upstream.publish('evil', { filename: evil.filename, bytes: evil.bytes });
    upstream.tampered.add(evil.filename);
    wheels.set(evil.filename, { filename: evil.filename, sha256: evil.sha256, requiresDist: [] });
    await upstream.start();
    // Production defaults, the page memo included.
    let env: Record<string, string> = { ORCHARD_PAGE_MEMO_MS: '1000' };
    if (storage === 's3') {
      s3 = await startTestS3();
      env = {
        ...env,
        ...s3ServiceEnv(s3),
      };
    }
    orchard = await OrchardProcesses.start({ upstreams: `local=${upstream.url}`, env });
    store = createBlobStore(
      s3
        ? { kind: 's3', endpoint: s3.endpoint, bucket: s3.bucket, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, forcePathStyle: true }
        : { kind: 'fs', root: orchard.dataDir },
    );
    db = new pg.Client({ connectionString: orchard.database.url });
    await db.connect();
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    await db?.end();
    await store?.close();
    await orchard?.stop();
    await upstream.stop();
    await s3?.stop();
  });

  it('installs the whole dependency tree, every file fetched from upstream by Orchard once', async () => {
    const target = await mkdtemp(path.join(os.tmpdir(), 'orchard-pip-'));
    const result = await runPip(['install', '--index-url', `${orchard.gatewayUrl}/simple/`, '--target', target, 'app']);
    expect(result.code, result.stderr).toBe(0);
    const installed = await readdir(target);
    for (const module of ['app', 'lib_a', 'lib_b', 'lib_c']) expect(installed).toContain(module);
    expect(installed).not.toContain('never_installed');
    expect(await readFile(path.join(target, 'lib_a', '__init__.py'), 'utf8')).toContain('1.0.0');

    const fileRequests = upstream.fileRequests();
    const fetched = fileRequests.map((r) => path.basename(r.path)).sort();
    expect(fetched).toEqual(['app-1.0.0-py3-none-any.whl', 'lib_a-1.0.0-py3-none-any.whl', 'lib_b-2.0.0-py3-none-any.whl', 'lib_c-0.5.0-py3-none-any.whl']);
    // Every upstream request came from Orchard, not from pip.
    expect(upstream.requests.every((r) => r.userAgent === 'orchard')).toBe(true);
  });

  it('stores each file under its sha256, byte for byte', async () => {
    for (const request of upstream.fileRequests()) {
      const wheel = wheels.get(path.basename(request.path))!;
      const blob = await store.get(blobKey(wheel.sha256));
      const hash = createHash('sha256');
      for await (const chunk of blob!.body) hash.update(chunk as Buffer);
      const digest = hash.digest('hex');
      expect(digest).toBe(wheel.sha256);
    }
  });

  it('records every installed wheel and its exact dependency rows in PostgreSQL', async () => {
    const installed = upstream.fileRequests().map((r) => wheels.get(path.basename(r.path))!);
    await waitFor('extraction', async () => {
      const { rows } = await db.query(`SELECT count(*)::int AS n FROM release WHERE metadata_status = 'ok'`);
      return rows[0].n >= installed.length ? true : undefined;
    });
    for (const wheel of installed) {
      const { rows: artifact } = await db.query('SELECT size, filename, ref_count FROM artifact WHERE sha256 = $1', [wheel.sha256]);
      expect(artifact).toHaveLength(1);
      expect(artifact[0].filename).toBe(wheel.filename);
      const { rows } = await db.query('SELECT raw FROM artifact_dependency WHERE artifact_sha256 = $1 ORDER BY raw', [wheel.sha256]);
      expect(rows.map((r) => r.raw)).toEqual([...wheel.requiresDist].sort());
    }
    const { rows } = await db.query(
      `SELECT d.name, d.specifier, d.extras, d.marker, d.extra FROM artifact_dependency d JOIN release r ON r.artifact_sha256 = d.artifact_sha256 WHERE r.project = 'app' ORDER BY d.name`,
    );
    expect(rows).toEqual([
      { name: 'lib-a', specifier: '>=1.0', extras: [], marker: null, extra: null },
      { name: 'lib-b', specifier: '<3', extras: ['fast'], marker: 'python_version >= "3.7"', extra: null },
      { name: 'never-installed', specifier: '', extras: [], marker: 'extra == "docs"', extra: 'docs' },
    ]);
  });

  it('refuses a file whose bytes differ from the published sha256: pip gets a clear HTTP error, nothing is stored', async () => {
    const evil = [...wheels.values()].find((w) => w.filename.startsWith('evil'))!;
    const target = await mkdtemp(path.join(os.tmpdir(), 'orchard-pip-'));
    const result = await runPip(['install', '--index-url', `${orchard.gatewayUrl}/simple/`, '--target', target, 'evil']);
    expect(result.code).not.toBe(0);
    expect(result.stderr + result.stdout).toMatch(/502|Bad Gateway/);
    const direct = await fetch(`${orchard.gatewayUrl}/files/evil/${evil.sha256}/${evil.filename}`);
    expect(direct.status).toBe(502);
    expect(await direct.text()).toMatch(/does not match its published sha256/);
    expect(await store.stat(blobKey(evil.sha256))).toBeNull();
    if (s3) expect(await s3.pendingMultipartUploads()).toBe(0);
    const { rows } = await db.query('SELECT 1 FROM artifact WHERE sha256 = $1', [evil.sha256]);
    expect(rows).toHaveLength(0);
  });

  it('fetches a file again when its blob vanished from storage behind the caches', async () => {
    const wheel = [...wheels.values()].find((w) => w.filename.startsWith('lib_c'))!;
    await store.delete(blobKey(wheel.sha256));
    const before = upstream.fileRequests().length;
    const res = await fetch(`${orchard.gatewayUrl}/files/lib-c/${wheel.sha256}/${wheel.filename}`);
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(createHash('sha256').update(body).digest('hex')).toBe(wheel.sha256);
    expect(upstream.fileRequests().length).toBe(before + 1);
    // The client may get the verified bytes from the fetcher a moment before the store commits them
    // (s3rver shows an object being written with its size so far).
    const stored = () => store.stat(blobKey(wheel.sha256)).then((stat) => (stat?.size === body.length ? stat : undefined));
    expect(await waitFor('the file stored again', stored)).toEqual({ size: body.length });
  });

  it('reads an advertised metadata file from the wheel again when storage lost both', async () => {
    const wheel = [...wheels.values()].find((w) => w.filename.startsWith('lib_b'))!;
    const page = await (await fetch(`${orchard.gatewayUrl}/simple/lib-b/`, { headers: { accept: 'application/vnd.pypi.simple.v1+json' } })).json();
    const advertised = (page as { files: Array<{ filename: string; 'core-metadata'?: { sha256: string } }> }).files.find((f) => f.filename === wheel.filename)!;
    expect(advertised['core-metadata']?.sha256).toMatch(/^[0-9a-f]{64}$/);
    await store.delete(metadataKey(advertised['core-metadata']!.sha256));
    await store.delete(blobKey(wheel.sha256));
    const res = await fetch(`${orchard.gatewayUrl}/files/lib-b/${wheel.sha256}/${wheel.filename}.metadata`);
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(createHash('sha256').update(body).digest('hex')).toBe(advertised['core-metadata']!.sha256);
    expect(body.toString()).toContain('Name: Lib_B');
  });

  it('installs again from Orchard alone once the upstream is gone', async () => {
    await upstream.stop();
    const before = upstream.requests.length;
    const target = await mkdtemp(path.join(os.tmpdir(), 'orchard-pip-'));
    const result = await runPip(['install', '--index-url', `${orchard.gatewayUrl}/simple/`, '--target', target, 'app']);
    expect(result.code, result.stderr).toBe(0);
    for (const module of ['app', 'lib_a', 'lib_b', 'lib_c']) expect(await readdir(target)).toContain(module);
    expect(upstream.requests.length).toBe(before);
  });
});
