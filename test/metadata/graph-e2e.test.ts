/**
 * End to end with the real services as processes: files fetched through the gateway are extracted
 * by the extractor into exact dependency rows, and the gateway's JSON API answers forward,
 * evaluated and reverse questions about them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSdist, buildWheel } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { waitFor } from '../support/wait.js';

const SPECS = [
  {
    project: 'web-app',
    kind: 'wheel',
    version: '2.0.0',
    requiresDist: ['Http_Lib[socks]>=2.1,<3', 'tz-data; sys_platform == "win32"', 'docs-theme; extra == "docs"', 'backport (>=1.0); python_version < "3.9"'],
  },
  { project: 'http-lib', kind: 'wheel', version: '2.5.0', requiresDist: ['Core.Utils>=1', 'socks-impl; extra == "socks"'] },
  { project: 'core-utils', kind: 'sdist', version: '1.4', requiresDist: ['tz-data'] },
  { project: 'legacy-tool', kind: 'sdist', version: '0.3', requiresDist: ['core_utils'], dynamic: ['Requires-Dist'] },
] as const;

const upstream = new FakeUpstream();
let orchard: OrchardProcesses;
const files = new Map<string, { sha256: string; filename: string; requiresDist: readonly string[] }>();

async function json(path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${orchard.gatewayUrl}${path}`);
  return { status: res.status, body: await res.json() };
}

beforeAll(async () => {
  for (const spec of SPECS) {
    const dist =
      spec.kind === 'wheel'
        ? await buildWheel({ name: spec.project, version: spec.version, requiresDist: [...spec.requiresDist], metadataExtra: 'Provides-Extra: docs\nProvides-Extra: socks' })
        : await buildSdist({
            name: spec.project,
            version: spec.version,
            requiresDist: [...spec.requiresDist],
            ...('dynamic' in spec ? { dynamic: [...spec.dynamic] } : { metadataVersion: '2.2' }),
          });
    upstream.publish(spec.project, { filename: dist.filename, bytes: dist.bytes });
    files.set(spec.project, { sha256: dist.sha256, filename: dist.filename, requiresDist: spec.requiresDist });
  }
  await upstream.start();
  orchard = await OrchardProcesses.start({ upstreams: `local=${upstream.url}` });
  // Fetch every file through the gateway, as a client following the page's links would.
  for (const spec of SPECS) {
    const pageUrl = `${orchard.gatewayUrl}/simple/${spec.project}/`;
    const page = (await (await fetch(pageUrl, { headers: { accept: 'application/vnd.pypi.simple.v1+json' } })).json()) as { files: Array<{ url: string }> };
    const res = await fetch(new URL(page.files[0]!.url, pageUrl));
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  }
  for (const { sha256 } of files.values()) {
    await waitFor(
      `extraction of ${sha256}`,
      async () => {
        const { status, body } = await json(`/api/v1/artifacts/${sha256}`);
        return status === 200 && body.metadataStatus !== 'pending' ? true : undefined;
      },
      60_000,
    );
  }
}, 180_000);

afterAll(async () => {
  if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
  await orchard?.stop();
  await upstream.stop();
});

describe('the dependency graph of fetched files, through the gateway API', () => {
  it('records exactly the declared requirements of every file', async () => {
    for (const [project, file] of files) {
      const { body } = await json(`/api/v1/artifacts/${file.sha256}`);
      expect(body, project).toMatchObject({ filename: file.filename, project, metadataStatus: 'ok', metadataError: null });
      expect(
        body.dependencies.map((d: { raw: string }) => d.raw),
        project,
      ).toEqual(file.requiresDist);
    }
    expect((await json(`/api/v1/artifacts/${files.get('core-utils')!.sha256}`)).body.dependenciesKnown).toBe(true);
    expect((await json(`/api/v1/artifacts/${files.get('legacy-tool')!.sha256}`)).body.dependenciesKnown).toBe(false);
  });

  it('answers forward questions, evaluated for an environment', async () => {
    const all = (await json('/api/v1/projects/Web_App/versions/2.0.0/dependencies')).body;
    expect(all.dependencies.map((d: { name: string }) => d.name)).toEqual(['http-lib', 'tz-data', 'docs-theme', 'backport']);
    expect(all.dependencies[0]).toEqual({
      name: 'http-lib',
      specifier: '>=2.1,<3',
      extras: ['socks'],
      marker: null,
      url: null,
      extra: null,
      kind: null,
      raw: 'Http_Lib[socks]>=2.1,<3',
    });
    const linux = (await json('/api/v1/projects/web-app/versions/2.0/dependencies?python=3.12&platform=linux&extras=docs')).body;
    expect(linux.dependencies.map((d: { name: string }) => d.name)).toEqual(['http-lib', 'docs-theme']);
    const windows = (await json('/api/v1/projects/web-app/versions/2.0.0/dependencies?python=3.8.10&platform=windows')).body;
    expect(windows.dependencies.map((d: { name: string }) => d.name)).toEqual(['http-lib', 'tz-data', 'backport']);
  });

  it('answers reverse questions: which cached releases require a project, with their specifiers', async () => {
    const { body } = await json('/api/v1/projects/Core_Utils/dependents');
    expect(body.project).toBe('core-utils');
    expect(body.dependents.map((d: { project: string; version: string; specifier: string; raw: string }) => [d.project, d.version, d.specifier, d.raw])).toEqual([
      ['http-lib', '2.5.0', '>=1', 'Core.Utils>=1'],
      ['legacy-tool', '0.3', '', 'core_utils'],
    ]);
    const tz = (await json('/api/v1/projects/tz-data/dependents')).body;
    expect(tz.dependents.map((d: { project: string; marker: string | null }) => [d.project, d.marker])).toEqual([
      ['core-utils', null],
      ['web-app', 'sys_platform == "win32"'],
    ]);
  });

  it('serves the extracted METADATA as the PEP 658 file', async () => {
    const file = files.get('http-lib')!;
    const res = await fetch(`${orchard.gatewayUrl}/files/http-lib/${file.sha256}/${file.filename}.metadata`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Requires-Dist: Core.Utils>=1');
  });
});
