/**
 * The JSON API over real PostgreSQL, filled by the real extract handler from real wheels and sdists:
 * forward (artifact, release), evaluated and reverse questions, and the error contract.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExtractionHarness, type ExtractionHarness } from '../../../test/metadata/harness.js';
import { buildSdist, buildWheel, sha256Hex } from '../../../test/support/dists.js';
import { pypiProtocol } from '../../../libs/protocol/pypi/index.js';
import { apiRoutes } from './api-routes.js';

const APP_REQUIRES = [
  'lib-a>=1.0',
  'Lib_B[fast]<3; python_version >= "3.7"',
  'win-only; sys_platform == "win32"',
  'docs-tool; extra == "docs"',
  'old-backport; python_version < "3.8"',
  'arm-thing; platform_machine == "arm64"',
  'patchy; python_full_version < "3.11.2"',
];

let h: ExtractionHarness;
let server: http.Server;
let base: string;
const sha: Record<string, string> = {};

async function get(path: string): Promise<{ status: number; type: string | null; body: any }> {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, type: res.headers.get('content-type'), body: await res.json() };
}

beforeAll(async () => {
  h = await createExtractionHarness();
  const dists = [
    { project: 'app', dist: await buildWheel({ name: 'app', version: '1.0.0', requiresDist: APP_REQUIRES, requiresPython: '>=3.8', metadataExtra: 'Provides-Extra: docs' }) },
    { project: 'app', dist: await buildSdist({ name: 'app', version: '1.0', requiresDist: ['lib-a>=1.0', 'sdist-only'] }) },
    { project: 'lib-a', dist: await buildWheel({ name: 'lib-a', version: '1.0', requiresDist: ['lib.c (>=0.5)'] }) },
    { project: 'lib-a', dist: await buildWheel({ name: 'lib-a', version: '0.9', requiresDist: ['Lib_C'] }) },
    { project: 'lib-b', dist: await buildWheel({ name: 'Lib_B', version: '2.0.0', requiresDist: ['lib-c; extra == "fast"'], metadataExtra: 'Provides-Extra: fast' }) },
    { project: 'lib-c', dist: await buildWheel({ name: 'lib.c', version: '0.5.0' }) },
  ];
  for (const { project, dist } of dists) {
    const job = await h.storeArtifact({ ...dist, project });
    await h.extract(job);
    sha[dist.filename] = dist.sha256;
  }
  const broken = Buffer.from('not a zip');
  const brokenJob = await h.storeArtifact({ filename: 'broken-1.0-py3-none-any.whl', project: 'broken', bytes: broken, sha256: sha256Hex(broken) });
  await h.extract(brokenJob).catch(() => {});
  sha.broken = brokenJob.sha256;
  const pending = Buffer.from('pending');
  sha.pending = (await h.recordArtifact({ filename: 'pending-2.0.tar.gz', project: 'pending', size: pending.length, sha256: sha256Hex(pending) })).sha256;

  const app = express();
  app.set('strict routing', true);
  app.use(apiRoutes({ base: '/api/v1', protocol: pypiProtocol, releases: h.releases, logger: pino({ level: 'silent' }) }));
  server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await h?.close();
});

describe('GET /api/v1/artifacts/<sha256>', () => {
  it('gives the file, its release facts and its dependencies with stable field names', async () => {
    const { status, type, body } = await get(`/api/v1/artifacts/${sha['app-1.0.0-py3-none-any.whl']}`);
    expect(status).toBe(200);
    expect(type).toMatch(/^application\/json/);
    expect(Object.keys(body).sort()).toEqual(
      [
        'dependencies',
        'dependenciesKnown',
        'dynamic',
        'extractedAt',
        'filename',
        'licenseExpression',
        'metadataError',
        'metadataSha256',
        'metadataStatus',
        'metadataVersion',
        'next',
        'nextCursor',
        'project',
        'providesExtra',
        'requiresPython',
        'sha256',
        'size',
        'summary',
        'version',
      ].sort(),
    );
    expect(body).toMatchObject({
      sha256: sha['app-1.0.0-py3-none-any.whl'],
      filename: 'app-1.0.0-py3-none-any.whl',
      project: 'app',
      version: '1.0.0',
      metadataStatus: 'ok',
      metadataError: null,
      metadataVersion: '2.1',
      requiresPython: '>=3.8',
      providesExtra: ['docs'],
      dependenciesKnown: true,
    });
    expect(body.size).toBeGreaterThan(100);
    expect(body.metadataSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(body.dependencies.map((d: { raw: string }) => d.raw)).toEqual(APP_REQUIRES);
    expect(body.dependencies[1]).toEqual({
      name: 'lib-b',
      specifier: '<3',
      extras: ['fast'],
      marker: 'python_version >= "3.7"',
      url: null,
      extra: null,
      kind: null,
      raw: APP_REQUIRES[1],
    });
    expect(body.dependencies[3]).toMatchObject({ name: 'docs-tool', extra: 'docs' });
  });

  it('accepts upper-case hex, says dependencies unknown for a pre-2.2 sdist, and shows failures and pending files', async () => {
    const sdist = await get(`/api/v1/artifacts/${sha['app-1.0.tar.gz']!.toUpperCase()}`);
    expect(sdist.body).toMatchObject({ filename: 'app-1.0.tar.gz', version: '1.0', metadataStatus: 'ok', dependenciesKnown: false });
    expect((await get(`/api/v1/artifacts/${sha.broken}`)).body).toMatchObject({
      metadataStatus: 'failed',
      metadataError: 'not a zip file',
      dependenciesKnown: false,
      dependencies: [],
      version: '1.0',
    });
    expect((await get(`/api/v1/artifacts/${sha.pending}`)).body).toMatchObject({ metadataStatus: 'pending', version: null, extractedAt: null, dependencies: [] });
  });

  it('answers 400 for a bad id and 404 for an unknown one, as JSON', async () => {
    expect(await get('/api/v1/artifacts/xyz')).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
    expect(await get(`/api/v1/artifacts/${'0'.repeat(64)}`)).toMatchObject({ status: 404, body: { error: { code: 'not_found', message: expect.stringContaining('0000') } } });
  });
});

describe('GET /api/v1/projects/<name>/versions/<version>/dependencies', () => {
  it('lists every artifact of the release (PEP 440-equal versions too) and the union of known requirements', async () => {
    const { status, body } = await get('/api/v1/projects/App/versions/1.0/dependencies');
    expect(status).toBe(200);
    expect(body).toMatchObject({ project: 'app', version: '1.0', environment: null, dependenciesKnown: true });
    expect(body).not.toHaveProperty('undetermined');
    expect(body.artifacts.map((a: { filename: string; dependenciesKnown: boolean }) => [a.filename, a.dependenciesKnown])).toEqual([
      ['app-1.0.0-py3-none-any.whl', true],
      ['app-1.0.tar.gz', false],
    ]);
    // The wheel's list is authoritative; the sdist's unknown list does not leak into the union.
    expect(body.dependencies.map((d: { raw: string }) => d.raw)).toEqual(APP_REQUIRES);
    expect(body.artifacts[1].dependencies.map((d: { raw: string }) => d.raw)).toEqual(['lib-a>=1.0', 'sdist-only']);
  });

  it('evaluates markers for python, platform, machine and extras', async () => {
    const names = (b: { dependencies: Array<{ name: string }> }) => b.dependencies.map((d) => d.name);
    const linux = (await get('/api/v1/projects/app/versions/1.0.0/dependencies?python=3.11&platform=linux')).body;
    expect(linux.environment).toMatchObject({ python_version: '3.11', sys_platform: 'linux', os_name: 'posix', extras: [] });
    expect(names(linux)).toEqual(['lib-a', 'lib-b']);
    expect(linux.undetermined.map((d: { name: string; variables: string[] }) => [d.name, d.variables])).toEqual([
      ['arm-thing', ['platform_machine']],
      ['patchy', ['python_full_version']],
    ]);
    const docs = (await get('/api/v1/projects/app/versions/1.0.0/dependencies?python=3.11.4&platform=linux&machine=arm64&extras=Docs')).body;
    expect(names(docs)).toEqual(['lib-a', 'lib-b', 'docs-tool', 'arm-thing']);
    expect(docs.undetermined).toEqual([]);
    const windows = (await get('/api/v1/projects/app/versions/1.0.0/dependencies?python=3.7.3&platform=win32&machine=AMD64')).body;
    expect(names(windows)).toEqual(['lib-a', 'lib-b', 'win-only', 'old-backport', 'patchy']);
    expect(windows.artifacts[0].dependencies.map((d: { name: string }) => d.name)).toEqual(names(windows));
  });

  it('answers 400 for bad input and 404 for what is not cached', async () => {
    expect((await get('/api/v1/projects/app/versions/1.0.0/dependencies?python=3.x')).status).toBe(400);
    expect((await get('/api/v1/projects/app/versions/1.0.0/dependencies?platform=beos')).body.error.message).toMatch(/platform must be one of/);
    expect((await get('/api/v1/projects/app/versions/1.0.0/dependencies?os=linux')).status).toBe(400);
    expect((await get('/api/v1/projects/-app-/versions/1.0/dependencies')).status).toBe(400);
    expect((await get('/api/v1/projects/app/versions/1.0%20or%201/dependencies')).status).toBe(400);
    expect(await get('/api/v1/projects/app/versions/9.9/dependencies')).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect((await get('/api/v1/projects/nothing-here/versions/1.0/dependencies')).status).toBe(404);
  });
});

describe('GET /api/v1/projects/<name>/dependents', () => {
  it('lists the cached releases requiring a project, with their specifiers, extras and markers', async () => {
    const { status, body } = await get('/api/v1/projects/LIB_C/dependents');
    expect(status).toBe(200);
    expect(body).toEqual({
      project: 'lib-c',
      dependents: [
        {
          project: 'lib-a',
          version: '0.9',
          name: 'lib-c',
          specifier: '',
          extras: [],
          marker: null,
          url: null,
          extra: null,
          kind: null,
          raw: 'Lib_C',
          artifacts: [{ sha256: sha['lib_a-0.9-py3-none-any.whl'], filename: 'lib_a-0.9-py3-none-any.whl' }],
        },
        {
          project: 'lib-a',
          version: '1.0',
          name: 'lib-c',
          specifier: '>=0.5',
          extras: [],
          marker: null,
          url: null,
          extra: null,
          kind: null,
          raw: 'lib.c (>=0.5)',
          artifacts: [{ sha256: sha['lib_a-1.0-py3-none-any.whl'], filename: 'lib_a-1.0-py3-none-any.whl' }],
        },
        {
          project: 'lib-b',
          version: '2.0.0',
          name: 'lib-c',
          specifier: '',
          extras: [],
          marker: 'extra == "fast"',
          url: null,
          extra: 'fast',
          kind: null,
          raw: 'lib-c; extra == "fast"',
          artifacts: [{ sha256: sha['lib_b-2.0.0-py3-none-any.whl'], filename: 'lib_b-2.0.0-py3-none-any.whl' }],
        },
      ],
      nextCursor: null,
      next: null,
    });
  });

  it('groups the artifacts of one release, and answers an empty list for a project nothing requires', async () => {
    const { body } = await get('/api/v1/projects/lib-a/dependents');
    expect(body.dependents.map((d: { project: string; version: string; raw: string; artifacts: unknown[] }) => [d.project, d.version, d.raw, d.artifacts.length])).toEqual([
      ['app', '1.0', 'lib-a>=1.0', 1],
      ['app', '1.0.0', 'lib-a>=1.0', 1],
    ]);
    expect(await get('/api/v1/projects/unknown-project/dependents')).toMatchObject({ status: 200, body: { project: 'unknown-project', dependents: [] } });
    expect((await get('/api/v1/projects/a%20b/dependents')).status).toBe(400);
    expect((await get('/api/v1/projects/lib-a/dependents?x=1')).status).toBe(400);
  });
});
