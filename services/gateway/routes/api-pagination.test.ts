/**
 * Pagination of the JSON API over real PostgreSQL: every list answer is bounded by `limit` (default
 * and maximum 1000), and walking the `next` links gives every row exactly once, in the documented
 * order, whatever the page size. Bad `limit` and `cursor` values are a 400 naming the problem.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { compare } from '@renovatebot/pep440';
import express from 'express';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExtractionHarness, type ExtractionHarness } from '../../../test/metadata/harness.js';
import { sha256Hex } from '../../../test/support/dists.js';
import { encodeCursor, MAX_LIMIT } from './api-pagination.js';
import { pypiProtocol } from '../../../libs/protocol/pypi/index.js';
import { apiRoutes } from './api-routes.js';

let h: ExtractionHarness;
let server: http.Server;
let base: string;

type Body = Record<string, any>;

async function get(path: string): Promise<{ status: number; body: Body; bytes: number }> {
  const res = await fetch(`${base}${path}`);
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Body, bytes: Buffer.byteLength(text) };
}

/** Follows `next` links from `path`, returning every page's body. */
async function walk(path: string): Promise<Body[]> {
  const pages: Body[] = [];
  for (let next: string | null = path; next !== null;) {
    const { status, body } = await get(next);
    expect(status, next).toBe(200);
    pages.push(body);
    next = body.next as string | null;
    expect(pages.length).toBeLessThan(500);
  }
  return pages;
}

let counter = 0;
/** Records an artifact and its extraction (the extractor's own write path) with these requirements. */
async function release(project: string, version: string, raws: string[], opts: { filename?: string; dependenciesKnown?: boolean } = {}): Promise<string> {
  const filename = opts.filename ?? `${project.replace(/-/g, '_')}-${version}-py3-none-any.whl`;
  const sha256 = sha256Hex(Buffer.from(`${filename} ${counter++}`));
  await h.recordArtifact({ filename, project, size: 100, sha256 });
  await h.releases.recordExtraction({
    artifactSha256: sha256,
    project,
    version,
    requiresPython: null,
    summary: null,
    metadataVersion: '2.1',
    dependenciesKnown: opts.dependenciesKnown ?? true,
    providesExtra: [],
    dynamic: [],
    licenseExpression: null,
    dependencies: raws.map((raw) => {
      const [name, marker] = raw.split('; ');
      return { name: /^[A-Za-z0-9._-]+/.exec(name!)![0], specifier: '', extras: [], marker: marker ?? null, raw };
    }),
  });
  return sha256;
}

const range = (from: number, to: number, f: (i: number) => string) => Array.from({ length: to - from }, (_, i) => f(from + i));

const WIDE = range(0, 2500, (i) => `dep-${String(i).padStart(4, '0')}>=1`);
const MULTI_A = range(0, 300, (i) => `r${i}`);
const MULTI_B = [...range(150, 450, (i) => `r${i}`), 'win-only; sys_platform == "win32"'];
const MULTI_SDIST = ['r0', 'sdist-only'];
const PROJECTS = range(0, 12, (i) => `p${String(i).padStart(2, '0')}`);
const VERSIONS = ['10.0', '2.0', '1.0', '1.0.0', '1.0rc1'];
const TARGET_RAWS = ['target>=1', 'Target; extra == "x"'];
const sha: Record<string, string> = {};

beforeAll(async () => {
  h = await createExtractionHarness();
  sha.wide = await release('wide', '1.0', WIDE);
  sha.multiA = await release('multi', '1.0', MULTI_A, { filename: 'multi-1.0-cp311-cp311-linux_x86_64.whl' });
  sha.multiB = await release('multi', '1.0', MULTI_B, { filename: 'multi-1.0-cp311-cp311-win_amd64.whl' });
  sha.multiSdist = await release('multi', '1.0', MULTI_SDIST, { filename: 'multi-1.0.tar.gz', dependenciesKnown: false });
  for (const project of PROJECTS) for (const version of VERSIONS) await release(project, version, TARGET_RAWS);
  // Two files of one release declaring the same requirement: one entry listing both.
  await release('p05', '2.0', ['target>=1'], { filename: 'p05-2.0.tar.gz' });

  const app = express();
  app.set('strict routing', true);
  app.use(apiRoutes({ base: '/api/v1', protocol: pypiProtocol, releases: h.releases, logger: pino({ level: 'silent' }) }));
  server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 120_000);

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await h?.close();
});

const raws = (list: Array<{ raw: string }>) => list.map((d) => d.raw);

describe('GET /api/v1/artifacts/<sha256> pages its dependencies', () => {
  it('answers at most the default limit, and the pages give every requirement once, in declared order', async () => {
    const first = await get(`/api/v1/artifacts/${sha.wide}`);
    expect(first.body.dependencies).toHaveLength(MAX_LIMIT);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    expect(first.body.next).toBe(`/api/v1/artifacts/${sha.wide}?cursor=${first.body.nextCursor}`);
    for (const limit of [MAX_LIMIT, 333, 7]) {
      const pages = await walk(`/api/v1/artifacts/${sha.wide}?limit=${limit}`);
      expect(pages.length).toBe(Math.ceil(WIDE.length / limit));
      for (const page of pages) {
        expect(page.dependencies.length).toBeLessThanOrEqual(limit);
        expect(page).toMatchObject({ sha256: sha.wide, project: 'wide', metadataStatus: 'ok' });
      }
      expect(pages.flatMap((p) => raws(p.dependencies))).toEqual(WIDE);
      expect(pages.at(-1)).toMatchObject({ next: null, nextCursor: null });
    }
  }, 60_000);
});

describe('GET /api/v1/projects/<name>/versions/<version>/dependencies pages the requirements', () => {
  it('gives each artifact its own list and the union each raw once across pages', async () => {
    const single = (await get('/api/v1/projects/multi/versions/1.0/dependencies')).body;
    expect(single.next).toBeNull();
    const union = [...MULTI_A, ...MULTI_B.slice(150)];
    expect(raws(single.dependencies)).toEqual(union);
    for (const limit of [37, 150, 301, 2]) {
      const pages = await walk(`/api/v1/projects/multi/versions/1.0/dependencies?limit=${limit}`);
      const rows = MULTI_A.length + MULTI_B.length + MULTI_SDIST.length;
      expect(pages.length).toBe(Math.ceil(rows / limit));
      for (const page of pages) {
        expect(page.artifacts.map((a: Body) => a.filename)).toEqual(['multi-1.0-cp311-cp311-linux_x86_64.whl', 'multi-1.0-cp311-cp311-win_amd64.whl', 'multi-1.0.tar.gz']);
        expect(page.artifacts.reduce((n: number, a: Body) => n + a.dependencies.length, 0)).toBeLessThanOrEqual(limit);
        expect(page).toMatchObject({ project: 'multi', version: '1.0', dependenciesKnown: true });
      }
      expect(pages.flatMap((p) => raws(p.dependencies))).toEqual(union);
      expect(pages.flatMap((p) => raws(p.artifacts[0].dependencies))).toEqual(MULTI_A);
      expect(pages.flatMap((p) => raws(p.artifacts[1].dependencies))).toEqual(MULTI_B);
      expect(pages.flatMap((p) => raws(p.artifacts[2].dependencies))).toEqual(MULTI_SDIST);
    }
  }, 60_000);

  it('keeps the environment parameters in the next link and evaluates every page', async () => {
    const pages = await walk('/api/v1/projects/multi/versions/1.0/dependencies?limit=100&platform=linux');
    expect(pages[0]!.next).toContain('platform=linux');
    expect(pages.every((p) => p.environment?.sys_platform === 'linux')).toBe(true);
    const union = pages.flatMap((p) => raws(p.dependencies));
    expect(union).toHaveLength(450);
    expect(union).not.toContain('win-only; sys_platform == "win32"');
  });
});

describe('GET /api/v1/projects/<name>/dependents pages the requiring releases', () => {
  it('gives every entry once, by project, PEP 440 version and requirement, whatever the page size', async () => {
    const expected: string[] = [];
    for (const project of PROJECTS) {
      const versions = [...VERSIONS].sort((a, b) => compare(a, b) || (a < b ? -1 : 1));
      for (const version of versions) for (const raw of [...TARGET_RAWS].sort()) expected.push(`${project} ${version} ${raw}`);
    }
    const entry = (d: Body) => `${d.project} ${d.version} ${d.raw}`;
    const single = (await get('/api/v1/projects/TARGET/dependents')).body;
    expect(single.dependents.map(entry)).toEqual(expected);
    expect(single.dependents.find((d: Body) => d.project === 'p05' && d.version === '2.0' && d.raw === 'target>=1').artifacts.map((a: Body) => a.filename)).toEqual([
      'p05-2.0-py3-none-any.whl',
      'p05-2.0.tar.gz',
    ]);
    for (const limit of [1, 7, 10, 11]) {
      const pages = await walk(`/api/v1/projects/target/dependents?limit=${limit}`);
      expect(pages.length).toBe(Math.ceil(expected.length / limit));
      expect(pages.every((p) => p.dependents.length <= limit && p.project === 'target')).toBe(true);
      expect(pages.flatMap((p) => p.dependents.map(entry))).toEqual(expected);
      expect(pages.flatMap((p) => p.dependents)).toEqual(single.dependents);
    }
  }, 60_000);
});

describe('bad pagination parameters', () => {
  it('answers 400 with a reason for a bad limit or cursor', async () => {
    const cases: Array<[string, RegExp]> = [
      [`/api/v1/artifacts/${sha.wide}?limit=0`, /limit must be an integer from 1 to 1000/],
      [`/api/v1/artifacts/${sha.wide}?limit=1001`, /limit must be an integer from 1 to 1000/],
      [`/api/v1/artifacts/${sha.wide}?limit=ten`, /limit must be an integer/],
      [`/api/v1/artifacts/${sha.wide}?limit=1&limit=2`, /limit must be an integer/],
      [`/api/v1/artifacts/${sha.wide}?cursor=%%%`, /invalid cursor/],
      [`/api/v1/artifacts/${sha.wide}?cursor=bm90IGpzb24`, /invalid cursor/],
      [`/api/v1/artifacts/${sha.wide}?cursor=${encodeCursor('dependents', ['a', 'b', 'c'])}`, /another list/],
      [`/api/v1/artifacts/${sha.wide}?cursor=${encodeCursor('artifact-dependencies', ['-1'])}`, /invalid cursor/],
      [`/api/v1/artifacts/${sha.wide}?page=2`, /unknown query parameter "page"/],
      [`/api/v1/projects/multi/versions/1.0/dependencies?cursor=${encodeCursor('release-dependencies', ['x'])}`, /invalid cursor/],
      ['/api/v1/projects/target/dependents?limit=-5', /limit must be an integer/],
      ['/api/v1/projects/target/dependents?cursor=' + 'A'.repeat(9000), /invalid cursor/],
    ];
    for (const [path, message] of cases) {
      const { status, body } = await get(path);
      expect(status, path).toBe(400);
      expect(body.error.code, path).toBe('bad_request');
      expect(body.error.message, path).toMatch(message);
    }
  });
});
