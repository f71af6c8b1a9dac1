/**
 * Policy views: `/v/<view>/simple/…` serves the index narrowed by a view's rules (a snapshot at a
 * date, a cooldown, allow/deny lists, version specifiers, yanked and pre-releases), with real pip,
 * the real services (a gateway of two processes plus a replica gateway), one JSON upstream that
 * publishes PEP 700 upload times, config views from ORCHARD_VIEWS and views made through the admin API.
 *
 * Readings of the contract where it leaves a choice:
 * - `exclude-newer` hides files uploaded strictly after the instant; no file sits on the boundary.
 * - A rule's `rules` are answered as they were given (admin API and `GET /v/<view>/`); a view made
 *   through the API has `source: "api"`; `revision` changes when a PUT replaces the rules (a PUT
 *   replaces them all, it does not merge); `updatedAt` is an RFC 3339 timestamp.
 * - `GET /api/v1/admin/views/<name>` (and PUT's answer) may give the view bare or as `{ view }`, as
 *   the upstreams API wraps `{ upstream }`: both are read (see `viewOf`).
 * - 400 for: an unknown rule key (a typo must not silently do nothing), a wrong type, a duration or
 *   timestamp that does not parse, a specifier that is not PEP 440, a body that is not an object, a
 *   malformed JSON body (status only), a name outside `^[a-z0-9][a-z0-9-]{0,62}$`; an invalid PUT
 *   leaves the view as it was and creates nothing. DELETE of a view that does not exist: 404. No or a
 *   wrong token: 401 (as the other admin routes).
 * - `allow`/`deny` shape the root list and project pages; a project they admit whose files are all
 *   hidden has a 200 page with no files. An unknown view is a 404 on every path under `/v/<name>/`,
 *   files included.
 * - A file the view hides is a 404 under the view even before any page of the view was built (the
 *   gateway must decide from the page, not from a cache of view pages), for GET and HEAD alike.
 * - A view page's ETag differs from the plain page's when the two list different files, and a rule
 *   change changes it (an old ETag then gets a 200, not a 304).
 * - "Within 2 s on every gateway process" is measured from the admin call's answer: 2 s later, every
 *   answer from each of the two processes (told apart by the pid of their access-log lines) and from
 *   a replica gateway must show the change. ORCHARD_VIEW_REFRESH_S is 60 so that the fallback poll
 *   cannot be what delivers it; ORCHARD_PAGE_MEMO_MS is the production default (1 s).
 * - The fallback poll (ORCHARD_VIEW_REFRESH_S) reloads the views from PostgreSQL whatever was
 *   announced: a change that reached the database without an announcement (written there directly,
 *   as a lost message would leave it) is served within the interval. Checked on the replica gateway,
 *   whose interval is 1 s; this one test knows the table (`index_view`: name, rules, revision).
 * - `orchard_view_hidden_total`'s `rule` label is the rule's key (`exclude-newer`, `min-age`,
 *   `versions`, `exclude-yanked`, `exclude-prereleases`); only files one rule alone hides are asserted.
 * - The replica gateway reads ORCHARD_VIEWS as `@<file>` (the same views): that form is checked there.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JSON_TYPE, PIP_ACCEPT, type RawResponse } from '../api/http.js';
import { buildWheel, normalizedName, wheelName } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { runPip, type PipResult } from '../support/pip.js';
import { queryRows } from '../support/postgres.js';
import { childPids } from '../support/processes.js';
import { scrape, valueOf } from '../support/prometheus.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { sleep, waitFor } from '../support/wait.js';
import {
  ADMIN_TOKEN,
  accessLines,
  admin,
  closePinned,
  freshRequest,
  htmlFilenames,
  installedDists,
  jsonFilenames,
  pinnedRequest,
  viewOf,
  type ViewDescription,
} from './helpers.js';

const DAY_MS = 86_400_000;
/** The snapshot's instant: between the 1.0 and 2.0 uploads of the snap-* projects. */
const T = '2026-03-01T00:00:00Z';
/** Long before every time rule's bound. */
const OLD = '2025-01-15T08:00:00.000000Z';
const ago = (days: number) => new Date(Date.now() - days * DAY_MS).toISOString();

interface Release {
  name: string;
  version: string;
  /** PEP 700 upload time; none: the upstream does not say. */
  uploadTime?: string;
  requiresDist?: string[];
  yanked?: string;
}

const RELEASES: Release[] = [
  // Microsecond timestamps, as PyPI writes them.
  { name: 'snap-a', version: '1.0', uploadTime: '2026-01-01T10:00:00.123456Z' },
  { name: 'snap-a', version: '2.0', uploadTime: '2026-06-01T10:00:00.123456Z' },
  { name: 'snap-app', version: '1.0', uploadTime: '2026-01-10T10:00:00.000000Z', requiresDist: ['snap-a>=1.0'] },
  { name: 'snap-app', version: '2.0', uploadTime: '2026-06-02T10:00:00.000000Z', requiresDist: ['snap-a>=2.0'] },
  // Only ever requested file by file (the hidden-file test): never installed, never fetched before it.
  { name: 'snap-c', version: '1.0', uploadTime: '2026-01-01T10:00:00.000000Z' },
  { name: 'snap-c', version: '2.0', uploadTime: '2026-06-01T10:00:00.000000Z' },
  { name: 'cool-pkg', version: '1.0', uploadTime: ago(30) },
  { name: 'cool-pkg', version: '1.1', uploadTime: ago(1) },
  { name: 'nodate-pkg', version: '1.0' },
  { name: 'bad-pkg', version: '1.0', uploadTime: OLD },
  { name: 'uses-bad', version: '1.0', uploadTime: OLD, requiresDist: ['bad-pkg'] },
  { name: 'ver-pkg', version: '1.0', uploadTime: OLD },
  { name: 'ver-pkg', version: '1.1', uploadTime: OLD },
  { name: 'flags-pkg', version: '1.0', uploadTime: OLD, yanked: 'broken build' },
  { name: 'flags-pkg', version: '1.1', uploadTime: OLD },
  { name: 'flags-pkg', version: '2.0rc1', uploadTime: OLD },
];

/** The views ORCHARD_VIEWS defines (`source: "config"`). */
const CONFIG_VIEWS: Record<string, Record<string, unknown>> = {
  snap: { description: 'the-index-as-of-2026-03-01', 'exclude-newer': T },
  cooldown: { 'min-age': '7d' },
  'cooldown-lenient': { 'min-age': '7d', 'unknown-upload-time': 'include' },
  'no-bad': { deny: ['bad-*'] },
  pinned: { versions: { 'ver-pkg': '!=1.1' } },
  stable: { 'exclude-yanked': true, 'exclude-prereleases': true },
  'only-snap': { allow: ['snap-*'] },
};

/**
 * The same views in the compact form of the design's contract (`name:rule=value[,rule=value…]`,
 * space-separated; globs and versions `|`-separated): what the main gateway is started with, while the
 * replica reads the JSON form from a file.
 */
const CONFIG_VIEWS_COMPACT = [
  `snap:description=the-index-as-of-2026-03-01,exclude-newer=${T}`,
  'cooldown:min-age=7d',
  'cooldown-lenient:min-age=7d,unknown-upload-time=include',
  'no-bad:deny=bad-*',
  'pinned:versions=ver-pkg!=1.1',
  'stable:exclude-yanked,exclude-prereleases=true',
  'only-snap:allow=snap-*',
].join(' ');

/** Rules the admin API must refuse with a 400 and an `{ error }`. */
const INVALID_RULES: unknown[] = [
  { 'min-age': 'soon' },
  { 'min-age': 7 },
  { 'exclude-newer': 'last tuesday' },
  { 'exclude-newer': '2026-13-45T00:00:00Z' },
  { allow: 'snap-*' },
  { deny: [42] },
  { versions: { 'ver-pkg': 'not a specifier' } },
  { versions: ['ver-pkg==1.0'] },
  { 'exclude-yanked': 'yes' },
  { 'exclude-prereleases': 1 },
  { 'unknown-upload-time': 'maybe' },
  { description: 42 },
  { 'exclude-newest': T },
  [],
];

interface Wheel {
  project: string;
  filename: string;
  sha256: string;
  bytes: Buffer;
  metadata: Buffer;
}

describe('policy views', () => {
  const upstream = new FakeUpstream();
  let orchard: OrchardProcesses;
  let replicaUrl: string;
  /** The two gateway processes behind the gateway's port. */
  let workers: number[];
  let tmp: string;
  /** By `<wheel name>-<version>`, as a `.dist-info` directory is named. */
  const wheels = new Map<string, Wheel>();
  const wheel = (name: string, version: string) => wheels.get(`${wheelName(name)}-${version}`)!;

  const gw = () => orchard.gatewayUrl;
  const viewIndex = (view: string) => `${gw()}/v/${view}/simple/`;
  const plainIndex = () => `${gw()}/simple/`;
  const fileRequestsFor = (w: Wheel) => upstream.requests.filter((r) => r.path === `/files/${w.filename}` || r.path === `/files/${w.filename}.metadata`);
  const get = (url: string, accept = PIP_ACCEPT, extra: Record<string, string> = {}) => pinnedRequest(url, { headers: { accept, ...extra } });
  const json = (res: RawResponse) => JSON.parse(res.body.toString()) as any;

  /** `pip install --target <new dir>` from one index; the installed distributions when it succeeded. */
  async function pipInstall(index: string, requirements: string[]): Promise<{ result: PipResult; dists: string[] }> {
    const target = await mkdtemp(path.join(tmp, 'pip-'));
    const result = await runPip(['install', '--index-url', index, '--target', target, ...requirements]);
    return { result, dists: result.code === 0 ? await installedDists(target) : [] };
  }

  /**
   * Every installed wheel came from the upstream, fetched by Orchard (pip never reached the upstream
   * itself); installed through a view, pip downloaded it from the view's own `/v/<view>/files/…`.
   */
  async function expectFetchedThroughOrchard(dists: string[], view?: string): Promise<void> {
    expect(dists.length).toBeGreaterThan(0);
    const fetched = upstream.fileRequests().map((r) => r.path);
    for (const dist of dists) {
      const w = wheels.get(dist);
      expect(w, `${dist} is one of the published wheels`).toBeDefined();
      expect(fetched, `${w!.filename} fetched from the upstream`).toContain(`/files/${w!.filename}`);
      if (view) {
        const served = `/v/${view}/files/${w!.project}/${w!.sha256}/${w!.filename}`;
        await waitFor(
          `${served} in the gateway's access log`,
          () => (accessLines(orchard.logs.gateway).some((l) => l.path === served && l.status === 200) ? true : undefined),
          5_000,
        );
      }
    }
    expect(upstream.requests.filter((r) => r.userAgent !== 'orchard')).toEqual([]);
  }

  function expectNoMatchingDistribution(result: PipResult, requirement: string): void {
    expect(result.code, result.stdout).not.toBe(0);
    expect(result.stderr).toContain(`No matching distribution found for ${requirement}`);
  }

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'orchard-views-'));
    // JSON only: PEP 700 upload times are known for every file that has one.
    upstream.format = 'json';
    for (const release of RELEASES) {
      const built = await buildWheel({ name: release.name, version: release.version, requiresDist: release.requiresDist });
      upstream.publish(release.name, {
        filename: built.filename,
        bytes: built.bytes,
        metadata: built.metadata,
        ...(release.uploadTime ? { uploadTime: release.uploadTime } : {}),
        ...(release.yanked ? { yanked: release.yanked } : {}),
      });
      wheels.set(`${wheelName(release.name)}-${release.version}`, { project: normalizedName(release.name), ...built });
    }
    await upstream.start();
    orchard = await OrchardProcesses.start({
      upstreams: `local=${upstream.url}`,
      env: {
        ORCHARD_VIEWS: CONFIG_VIEWS_COMPACT,
        ORCHARD_ADMIN_TOKEN: ADMIN_TOKEN,
        ORCHARD_GATEWAY_PROCESSES: '2',
        ORCHARD_VIEW_REFRESH_S: '60',
        ORCHARD_PAGE_MEMO_MS: '1000',
      },
    });
    const primary = orchard.children.get('gateway')!.pid!;
    workers = await waitFor('two gateway processes', async () => {
      const pids = await childPids(primary);
      return pids.length === 2 ? pids : undefined;
    });
    const viewsFile = path.join(tmp, 'views.json');
    await writeFile(viewsFile, JSON.stringify(CONFIG_VIEWS, null, 2));
    // A short fallback poll on the replica only: the main gateway's 60 s cannot deliver a change within 2 s.
    replicaUrl = await orchard.startGatewayReplica({ ORCHARD_VIEWS: `@${viewsFile}`, ORCHARD_GATEWAY_PROCESSES: '1', ORCHARD_VIEW_REFRESH_S: '1' });
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) console.log(orchard?.allLogs());
    closePinned();
    await orchard?.stop();
    await upstream.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('a snapshot view (exclude-newer) installs what the index had at that instant; /simple/ the newest', async () => {
    const a = await pipInstall(viewIndex('snap'), ['snap-a']);
    expect(a.result.code, a.result.stderr).toBe(0);
    expect(a.dists).toEqual(['snap_a-1.0']);
    await expectFetchedThroughOrchard(a.dists, 'snap');

    // A dependency is resolved in the view too: snap-app 1.0 takes snap-a 1.0, though 2.0 would satisfy it.
    const app = await pipInstall(viewIndex('snap'), ['snap-app']);
    expect(app.result.code, app.result.stderr).toBe(0);
    expect(app.dists).toEqual(['snap_a-1.0', 'snap_app-1.0']);
    await expectFetchedThroughOrchard(app.dists, 'snap');

    expectNoMatchingDistribution((await pipInstall(viewIndex('snap'), ['snap-app==2.0'])).result, 'snap-app==2.0');
    // Nothing uploaded after T was fetched for the view.
    for (const [name, version] of [
      ['snap-a', '2.0'],
      ['snap-app', '2.0'],
    ] as const)
      expect(fileRequestsFor(wheel(name, version))).toEqual([]);

    const plain = await pipInstall(plainIndex(), ['snap-a', 'snap-app']);
    expect(plain.result.code, plain.result.stderr).toBe(0);
    expect(plain.dists).toEqual(['snap_a-2.0', 'snap_app-2.0']);
    await expectFetchedThroughOrchard(plain.dists);
  });

  it('a cooldown view (min-age) does not install a release uploaded a day ago, only one from a month ago', async () => {
    const cool = await pipInstall(viewIndex('cooldown'), ['cool-pkg']);
    expect(cool.result.code, cool.result.stderr).toBe(0);
    expect(cool.dists).toEqual(['cool_pkg-1.0']);
    await expectFetchedThroughOrchard(cool.dists, 'cooldown');
    expect(fileRequestsFor(wheel('cool-pkg', '1.1'))).toEqual([]);

    const page = await get(`${viewIndex('cooldown')}cool-pkg/`, JSON_TYPE);
    expect(page.status).toBe(200);
    expect(jsonFilenames(page.body)).toEqual([wheel('cool-pkg', '1.0').filename]);

    const plain = await pipInstall(plainIndex(), ['cool-pkg']);
    expect(plain.result.code, plain.result.stderr).toBe(0);
    expect(plain.dists).toEqual(['cool_pkg-1.1']);
    await expectFetchedThroughOrchard(plain.dists);
  });

  it('a time rule hides a file of unknown upload time unless unknown-upload-time is include; a page of hidden files is still a 200', async () => {
    const nodate = wheel('nodate-pkg', '1.0').filename;
    for (const view of ['cooldown', 'snap']) {
      const page = await get(`${viewIndex(view)}nodate-pkg/`, JSON_TYPE);
      expect(page.status, view).toBe(200);
      expect(json(page)).toMatchObject({ name: 'nodate-pkg', files: [] });
      const html = await get(`${viewIndex(view)}nodate-pkg/`, 'text/html');
      expect(html.status, view).toBe(200);
      expect(htmlFilenames(html.body)).toEqual([]);
    }
    const lenient = await get(`${viewIndex('cooldown-lenient')}nodate-pkg/`, JSON_TYPE);
    expect(lenient.status).toBe(200);
    expect(jsonFilenames(lenient.body)).toEqual([nodate]);
    // The lenient view is still a cooldown for files whose upload time is known.
    expect(jsonFilenames((await get(`${viewIndex('cooldown-lenient')}cool-pkg/`, JSON_TYPE)).body)).toEqual([wheel('cool-pkg', '1.0').filename]);
    // A view without a time rule does not care.
    expect(jsonFilenames((await get(`${viewIndex('no-bad')}nodate-pkg/`, JSON_TYPE)).body)).toEqual([nodate]);

    // pip finds nothing to install in a page with no files.
    expectNoMatchingDistribution((await pipInstall(viewIndex('cooldown'), ['nodate-pkg'])).result, 'nodate-pkg');
  });

  it('deny: a denied project does not exist in the view, for pip and for the projects that depend on it', async () => {
    expectNoMatchingDistribution((await pipInstall(viewIndex('no-bad'), ['bad-pkg'])).result, 'bad-pkg');
    expectNoMatchingDistribution((await pipInstall(viewIndex('no-bad'), ['uses-bad'])).result, 'bad-pkg');

    for (const accept of [PIP_ACCEPT, 'text/html']) expect((await get(`${viewIndex('no-bad')}bad-pkg/`, accept)).status, accept).toBe(404);
    const root = await get(viewIndex('no-bad'), PIP_ACCEPT);
    expect(root.status).toBe(200);
    const names = (json(root) as { projects: Array<{ name: string }> }).projects.map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(['uses-bad', 'snap-a', 'ver-pkg']));
    expect(names).not.toContain('bad-pkg');
    const rootHtml = (await get(viewIndex('no-bad'), 'text/html')).body.toString();
    expect(rootHtml).toContain('href="uses-bad/"');
    expect(rootHtml).not.toContain('bad-pkg/"');

    // Its file under the view: a 404, and Orchard does not fetch it.
    const bad = wheel('bad-pkg', '1.0');
    const badUrl = `${gw()}/v/no-bad/files/bad-pkg/${bad.sha256}/${bad.filename}`;
    expect((await get(badUrl, '*/*')).status).toBe(404);
    expect((await get(`${badUrl}.metadata`, '*/*')).status).toBe(404);
    expect(fileRequestsFor(bad)).toEqual([]);

    const plain = await pipInstall(plainIndex(), ['uses-bad']);
    expect(plain.result.code, plain.result.stderr).toBe(0);
    expect(plain.dists).toEqual(['bad_pkg-1.0', 'uses_bad-1.0']);
    await expectFetchedThroughOrchard(plain.dists);
  });

  it('allow: only matching projects exist in the view', async () => {
    const root = await get(viewIndex('only-snap'), PIP_ACCEPT);
    expect(root.status).toBe(200);
    const names = (json(root) as { projects: Array<{ name: string }> }).projects.map((p) => normalizedName(p.name)).sort();
    expect(names).toEqual(['snap-a', 'snap-app', 'snap-c']);
    expect((await get(`${viewIndex('only-snap')}cool-pkg/`)).status).toBe(404);
    // No file rule: every file of an allowed project.
    const page = await get(`${viewIndex('only-snap')}snap-a/`, JSON_TYPE);
    expect(page.status).toBe(200);
    expect(jsonFilenames(page.body)).toEqual([wheel('snap-a', '1.0').filename, wheel('snap-a', '2.0').filename].sort());
  });

  it('versions: a version the specifier excludes cannot be installed through the view; another can', async () => {
    expectNoMatchingDistribution((await pipInstall(viewIndex('pinned'), ['ver-pkg==1.1'])).result, 'ver-pkg==1.1');
    expect(fileRequestsFor(wheel('ver-pkg', '1.1'))).toEqual([]);

    const allowed = await pipInstall(viewIndex('pinned'), ['ver-pkg==1.0']);
    expect(allowed.result.code, allowed.result.stderr).toBe(0);
    expect(allowed.dists).toEqual(['ver_pkg-1.0']);
    await expectFetchedThroughOrchard(allowed.dists, 'pinned');
    expect(jsonFilenames((await get(`${viewIndex('pinned')}ver-pkg/`, JSON_TYPE)).body)).toEqual([wheel('ver-pkg', '1.0').filename]);

    const plain = await pipInstall(plainIndex(), ['ver-pkg==1.1']);
    expect(plain.result.code, plain.result.stderr).toBe(0);
    expect(plain.dists).toEqual(['ver_pkg-1.1']);
    await expectFetchedThroughOrchard(plain.dists);
  });

  it('a hidden file requested under the view is a 404 and never fetched; the same file under /files/ is served', async () => {
    const visible = wheel('snap-c', '1.0');
    const hidden = wheel('snap-c', '2.0');
    const under = (view: string, w: Wheel) => `${gw()}/v/${view}/files/snap-c/${w.sha256}/${w.filename}`;
    const hiddenUrl = under('snap', hidden);

    // Before any page of snap-c was asked for, through the view or not.
    expect(upstream.requests.filter((r) => r.path === '/simple/snap-c/')).toEqual([]);
    expect((await get(hiddenUrl, '*/*')).status).toBe(404);
    expect((await get(`${hiddenUrl}.metadata`, '*/*')).status).toBe(404);
    // Once the view's page was built, from either process and with HEAD too.
    expect(jsonFilenames((await get(`${viewIndex('snap')}snap-c/`, JSON_TYPE)).body)).toEqual([visible.filename]);
    for (let i = 0; i < 6; i++) {
      expect((await freshRequest(hiddenUrl)).status).toBe(404);
      expect((await freshRequest(`${hiddenUrl}.metadata`)).status).toBe(404);
    }
    expect((await pinnedRequest(hiddenUrl, { method: 'HEAD' })).status).toBe(404);
    // An unknown view.
    expect((await get(under('no-such-view', visible), '*/*')).status).toBe(404);
    expect(fileRequestsFor(hidden)).toEqual([]);

    // A file the view shows is served under it, and its metadata.
    const file = await get(under('snap', visible), '*/*');
    expect(file.status).toBe(200);
    expect(file.body.equals(visible.bytes)).toBe(true);
    const metadata = await get(`${under('snap', visible)}.metadata`, '*/*');
    expect(metadata.status).toBe(200);
    expect(metadata.body.equals(visible.metadata)).toBe(true);

    // The hidden file outside the view.
    const plain = await get(`${gw()}/files/snap-c/${hidden.sha256}/${hidden.filename}`, '*/*');
    expect(plain.status).toBe(200);
    expect(plain.body.equals(hidden.bytes)).toBe(true);
    const plainMetadata = await get(`${gw()}/files/snap-c/${hidden.sha256}/${hidden.filename}.metadata`, '*/*');
    expect(plainMetadata.status).toBe(200);
    expect(plainMetadata.body.equals(hidden.metadata)).toBe(true);
    expect(upstream.fileRequests().filter((r) => r.path === `/files/${hidden.filename}`)).toHaveLength(1);
    // Now stored (and, asked for again, in the gateway's file memo), it is still a 404 under the view.
    for (let i = 0; i < 3; i++) expect((await get(`${gw()}/files/snap-c/${hidden.sha256}/${hidden.filename}`, '*/*')).status).toBe(200);
    expect((await get(hiddenUrl, '*/*')).status).toBe(404);
    expect((await get(`${hiddenUrl}.metadata`, '*/*')).status).toBe(404);
    // Right after the view's page was answered on the same connection (its build remembered for
    // ORCHARD_PAGE_MEMO_MS, both files in the file memo): the hidden file is still a 404, the listed one served.
    for (let i = 0; i < 3; i++) {
      expect((await get(`${viewIndex('snap')}snap-c/`, JSON_TYPE)).status).toBe(200);
      expect((await get(hiddenUrl, '*/*')).status).toBe(404);
      const listed = await get(under('snap', visible), '*/*');
      expect(listed.status).toBe(200);
      expect(listed.body.equals(visible.bytes)).toBe(true);
    }
  });

  it('a view page omits hidden files in HTML and JSON, links under the view, and has its own ETag and 304', async () => {
    const visible = wheel('snap-c', '1.0');
    const hidden = wheel('snap-c', '2.0');
    const url = `${viewIndex('snap')}snap-c/`;

    const page = await get(url, PIP_ACCEPT);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe(JSON_TYPE);
    const doc = json(page) as { name: string; files: Array<{ filename: string; url: string; hashes: Record<string, string>; 'upload-time'?: string }> };
    expect(doc.name).toBe('snap-c');
    expect(doc.files).toHaveLength(1);
    expect(doc.files[0]).toMatchObject({ filename: visible.filename, hashes: { sha256: visible.sha256 }, 'upload-time': '2026-01-01T10:00:00.000000Z' });
    expect(new URL(doc.files[0]!.url, url).pathname).toBe(`/v/snap/files/snap-c/${visible.sha256}/${visible.filename}`);
    expect(page.body.toString()).not.toContain(hidden.filename);

    const html = await get(url, 'text/html');
    expect(html.status).toBe(200);
    expect(html.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(htmlFilenames(html.body)).toEqual([visible.filename]);
    expect(html.body.toString()).not.toContain(hidden.filename);
    const href = /<a href="([^"]+)"/.exec(html.body.toString())![1]!;
    expect(new URL(href, url).pathname).toBe(`/v/snap/files/snap-c/${visible.sha256}/${visible.filename}`);

    // The plain page lists both.
    const plain = await get(`${plainIndex()}snap-c/`, PIP_ACCEPT);
    expect(jsonFilenames(plain.body)).toEqual([visible.filename, hidden.filename].sort());

    const etag = page.headers.etag!;
    expect(etag).toBeTruthy();
    expect(etag).not.toBe(plain.headers.etag);
    expect(etag).not.toBe(html.headers.etag);
    const notModified = await get(url, PIP_ACCEPT, { 'if-none-match': etag });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.etag).toBe(etag);
    expect(notModified.body.length).toBe(0);
    // The plain page's ETag does not validate the view's page.
    expect((await get(url, PIP_ACCEPT, { 'if-none-match': plain.headers.etag! })).status).toBe(200);
    const head = await pinnedRequest(url, { method: 'HEAD', headers: { accept: PIP_ACCEPT } });
    expect(head.status).toBe(200);
    expect(head.headers.etag).toBe(etag);
    expect(head.headers['content-length']).toBe(String(page.body.length));
    expect(head.body.length).toBe(0);

    // exclude-yanked and exclude-prereleases together.
    expect(jsonFilenames((await get(`${viewIndex('stable')}flags-pkg/`, JSON_TYPE)).body)).toEqual([wheel('flags-pkg', '1.1').filename]);
    expect(htmlFilenames((await get(`${viewIndex('stable')}flags-pkg/`, 'text/html')).body)).toEqual([wheel('flags-pkg', '1.1').filename]);

    // The root list of a view without allow or deny has every project, files hidden or not.
    const root = await get(viewIndex('snap'), PIP_ACCEPT);
    expect(root.status).toBe(200);
    expect((json(root) as { projects: Array<{ name: string }> }).projects.map((p) => p.name)).toEqual(expect.arrayContaining(['snap-a', 'cool-pkg', 'nodate-pkg', 'bad-pkg']));
  });

  it('GET /v/<view>/ describes the view; an unknown view is a 404 everywhere under /v/', async () => {
    const res = await get(`${gw()}/v/snap/`, 'application/json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const view = json(res) as ViewDescription;
    expect(view).toMatchObject({ name: 'snap', rules: CONFIG_VIEWS.snap, source: 'config' });
    expect(view).toHaveProperty('revision');
    expect(view).toHaveProperty('updatedAt');

    for (const pathname of ['/v/no-such-view/', '/v/no-such-view/simple/', '/v/no-such-view/simple/snap-a/', '/v/Not_A_View/simple/', '/v/Not_A_View/simple/snap-a/'])
      expect((await get(`${gw()}${pathname}`)).status, pathname).toBe(404);
  });

  it('ORCHARD_VIEWS=@<file> gives the same views (the replica gateway reads its views from a file)', async () => {
    for (const name of Object.keys(CONFIG_VIEWS)) {
      const res = await freshRequest(`${replicaUrl}/v/${name}/`, { accept: 'application/json' });
      expect(res.status, name).toBe(200);
      expect(json(res)).toMatchObject({ name, rules: CONFIG_VIEWS[name], source: 'config' });
    }
    const page = await freshRequest(`${replicaUrl}/v/snap/simple/snap-a/`, { accept: JSON_TYPE });
    expect(jsonFilenames(page.body)).toEqual([wheel('snap-a', '1.0').filename]);
    expect((await freshRequest(`${replicaUrl}/v/no-bad/simple/bad-pkg/`, { accept: JSON_TYPE })).status).toBe(404);
  });

  it('admin API: creates, reads, replaces and deletes a view; refuses invalid rules and changes to config views', async () => {
    expect((await admin(orchard, '/views', 'GET', undefined, null)).status).toBe(401);
    expect((await admin(orchard, '/views', 'GET', undefined, 'not-the-admin-token-0123')).status).toBe(401);

    const list = await admin<{ views: ViewDescription[] }>(orchard, '/views');
    expect(list.status).toBe(200);
    for (const [name, rules] of Object.entries(CONFIG_VIEWS)) {
      const found = list.body.views.find((v) => v.name === name);
      expect(found, name).toMatchObject({ name, rules, source: 'config' });
      expect(found).toHaveProperty('revision');
      expect(found).toHaveProperty('updatedAt');
    }
    expect(list.body.views.map((v) => v.name)).not.toContain('crud-view');

    // Create.
    const firstRules = { description: 'made through the API', 'exclude-yanked': true };
    const created = await admin(orchard, '/views/crud-view', 'PUT', firstRules);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const first = viewOf((await admin(orchard, '/views/crud-view')).body);
    expect(first).toMatchObject({ name: 'crud-view', rules: firstRules, source: 'api' });
    expect(Date.parse(String(first.updatedAt))).not.toBeNaN();
    const described = await get(`${gw()}/v/crud-view/`, 'application/json');
    expect(described.status).toBe(200);
    expect(json(described)).toMatchObject({ name: first.name, rules: first.rules, source: first.source, revision: first.revision, updatedAt: first.updatedAt });
    const flags = (view: string) => get(`${viewIndex(view)}flags-pkg/`, JSON_TYPE);
    expect(jsonFilenames((await flags('crud-view')).body)).toEqual([wheel('flags-pkg', '1.1').filename, wheel('flags-pkg', '2.0rc1').filename].sort());

    // Replace: the new rules are the whole of the rules.
    const secondRules = { versions: { 'flags-pkg': '==1.1' } };
    const replaced = await admin(orchard, '/views/crud-view', 'PUT', secondRules);
    expect(replaced.status, JSON.stringify(replaced.body)).toBe(200);
    const second = viewOf((await admin(orchard, '/views/crud-view')).body);
    expect(second).toMatchObject({ name: 'crud-view', source: 'api' });
    expect(second.rules).toEqual(secondRules);
    expect(second.revision).not.toEqual(first.revision);
    expect(jsonFilenames((await flags('crud-view')).body)).toEqual([wheel('flags-pkg', '1.1').filename]);
    const listed = (await admin<{ views: ViewDescription[] }>(orchard, '/views')).body.views.find((v) => v.name === 'crud-view');
    expect(listed).toMatchObject({ name: 'crud-view', rules: secondRules, source: 'api', revision: second.revision });

    // Invalid rules change nothing.
    for (const rules of INVALID_RULES) {
      const res = await admin<string>(orchard, '/views/crud-view', 'PUT', rules);
      expect(res.status, JSON.stringify(rules)).toBe(400);
      // The admin API's errors are a short text naming what is wrong (as for upstreams), never a stack.
      expect.soft(res.body, `${JSON.stringify(rules)} answered ${JSON.stringify(res.body)}`).toMatch(/^[^\n]{3,300}\n?$/);
      expect.soft(res.body).not.toMatch(/ at |Error:/);
    }
    expect((await admin(orchard, '/views/crud-view', 'PUT', '{"min-age": ')).status).toBe(400);
    expect(viewOf((await admin(orchard, '/views/crud-view')).body)).toEqual(second);
    expect((await admin(orchard, '/views/never-made', 'PUT', { 'min-age': 'soon' })).status).toBe(400);
    expect((await admin(orchard, '/views/never-made')).status).toBe(404);
    for (const name of ['Bad_Name', '-leading-dash', 'a'.repeat(64)]) {
      const res = await admin(orchard, `/views/${name}`, 'PUT', {});
      expect(res.status, name).toBe(400);
    }

    // A view from ORCHARD_VIEWS cannot be changed here.
    const snapBefore = viewOf((await admin(orchard, '/views/snap')).body);
    expect(snapBefore).toMatchObject({ name: 'snap', rules: CONFIG_VIEWS.snap, source: 'config' });
    expect((await admin(orchard, '/views/snap', 'PUT', { 'min-age': '1d' })).status).toBe(409);
    expect((await admin(orchard, '/views/snap', 'DELETE')).status).toBe(409);
    expect(viewOf((await admin(orchard, '/views/snap')).body)).toEqual(snapBefore);
    expect(jsonFilenames((await get(`${viewIndex('snap')}snap-a/`, JSON_TYPE)).body)).toEqual([wheel('snap-a', '1.0').filename]);

    // Delete.
    expect((await admin(orchard, '/views/crud-view', 'DELETE')).status).toBe(204);
    expect((await admin(orchard, '/views/crud-view')).status).toBe(404);
    expect((await admin(orchard, '/views/crud-view', 'DELETE')).status).toBe(404);
    expect((await admin<{ views: ViewDescription[] }>(orchard, '/views')).body.views.map((v) => v.name)).not.toContain('crud-view');
    for (const pathname of ['/v/crud-view/simple/', '/v/crud-view/simple/flags-pkg/', '/v/crud-view/']) expect((await get(`${gw()}${pathname}`)).status, pathname).toBe(404);

    // Made again under the same name with other rules (its revision starts over): the pages and files
    // built under the old rules are never served for it.
    expect((await admin(orchard, '/views/crud-view', 'PUT', { versions: { 'flags-pkg': '==2.0rc1' } })).status).toBe(201);
    expect(viewOf((await admin(orchard, '/views/crud-view')).body).revision).toEqual(first.revision);
    expect(jsonFilenames((await flags('crud-view')).body)).toEqual([wheel('flags-pkg', '2.0rc1').filename]);
    const old = wheel('flags-pkg', '1.1');
    expect((await get(`${gw()}/v/crud-view/files/flags-pkg/${old.sha256}/${old.filename}`)).status).toBe(404);
    expect((await admin(orchard, '/views/crud-view', 'DELETE')).status).toBe(204);
  });

  it('a change through the admin API is served by every gateway process within 2 s', async () => {
    const pagePath = '/v/live/simple/ver-pkg/';
    const listed = (...versions: string[]) => versions.map((v) => wheel('ver-pkg', v).filename).sort();
    const lists = (files: string[]) => (res: RawResponse) => res.status === 200 && JSON.stringify(jsonFilenames(res.body)) === JSON.stringify(files);
    const isNotFound = (res: RawResponse) => res.status === 404;
    let step = 0;

    /**
     * 2 s after `since`, every answer for `pathname` satisfies `probe`: from both processes of the
     * gateway (batches of 20 concurrent new connections until the access log shows both answered)
     * and from the replica gateway.
     */
    async function servedEverywhere(what: string, since: number, pathname: string, probe: (res: RawResponse) => boolean): Promise<void> {
      await sleep(Math.max(0, since + 2_000 - Date.now()));
      step++;
      const seen = new Set<number>();
      for (let batch = 0; batch < 20 && !workers.every((pid) => seen.has(pid)); batch++) {
        const ua = `orchard-views-test/${step}.${batch}`;
        const answers = await Promise.all(Array.from({ length: 20 }, () => freshRequest(`${gw()}${pathname}`, { accept: JSON_TYPE, 'user-agent': ua })));
        const wrong = answers.filter((a) => !probe(a)).map((a) => `${a.status} ${a.body.toString().slice(0, 300)}`);
        expect(wrong, `${what}: answers of the gateway ${Date.now() - since} ms after the change`).toEqual([]);
        const lines = await waitFor(
          `the access log of ${ua}`,
          () => {
            const found = accessLines(orchard.logs.gateway).filter((l) => l.ua === ua);
            return found.length === answers.length ? found : undefined;
          },
          5_000,
        );
        for (const line of lines) seen.add(line.pid);
      }
      expect([...seen].sort(), `${what}: both gateway processes answered`).toEqual([...workers].sort());
      for (let i = 0; i < 3; i++) {
        const answer = await freshRequest(`${replicaUrl}${pathname}`, { accept: JSON_TYPE });
        expect(probe(answer), `${what}: the replica answered ${answer.status} ${answer.body.toString().slice(0, 300)}`).toBe(true);
      }
    }

    // No view "live" yet, anywhere (the page of ver-pkg is cached by now: earlier tests installed from it).
    await servedEverywhere('before', 0, pagePath, isNotFound);

    let res = await admin(orchard, '/views/live', 'PUT', {});
    expect(res.status).toBe(201);
    await servedEverywhere('created', Date.now(), pagePath, lists(listed('1.0', '1.1')));
    const etagBefore = (await get(`${gw()}${pagePath}`, JSON_TYPE)).headers.etag!;

    res = await admin(orchard, '/views/live', 'PUT', { versions: { 'ver-pkg': '==1.0' } });
    expect(res.status).toBe(200);
    await servedEverywhere('versions rule added', Date.now(), pagePath, lists(listed('1.0')));
    // The page changed: the ETag from before the change no longer validates it.
    const revalidated = await get(`${gw()}${pagePath}`, JSON_TYPE, { 'if-none-match': etagBefore });
    expect(revalidated.status).toBe(200);
    expect(revalidated.headers.etag).not.toBe(etagBefore);

    res = await admin(orchard, '/views/live', 'PUT', { deny: ['ver-*'] });
    expect(res.status).toBe(200);
    await servedEverywhere('deny rule', Date.now(), pagePath, isNotFound);
    // The view itself still exists everywhere, with the new rules.
    await servedEverywhere('described', 0, '/v/live/', (a) => a.status === 200 && JSON.stringify(JSON.parse(a.body.toString()).rules) === JSON.stringify({ deny: ['ver-*'] }));

    res = await admin(orchard, '/views/live', 'DELETE');
    expect(res.status).toBe(204);
    await servedEverywhere('deleted', Date.now(), '/v/live/', isNotFound);
  });

  it('the ORCHARD_VIEW_REFRESH_S poll picks up a change that came without an announcement (written to PostgreSQL directly)', async () => {
    const pageUrl = `${replicaUrl}/v/polled/simple/ver-pkg/`;
    const filenames = async () => {
      const res = await freshRequest(pageUrl, { accept: JSON_TYPE });
      return res.status === 200 ? jsonFilenames(res.body) : [`${res.status}`];
    };
    expect((await admin(orchard, '/views/polled', 'PUT', {})).status).toBe(201);
    const both = [wheel('ver-pkg', '1.0').filename, wheel('ver-pkg', '1.1').filename].sort();
    await waitFor('the new view on the replica', async () => (JSON.stringify(await filenames()) === JSON.stringify(both) ? true : undefined), 3_000);

    // As another tool (or a change whose announcement was lost) would: the rules, a new revision, no message.
    const rows = await queryRows(
      orchard.database.url,
      `UPDATE index_view SET rules = $1::jsonb, revision = revision + 1, updated_at = now() WHERE name = 'polled' RETURNING revision`,
      [JSON.stringify({ versions: { 'ver-pkg': '==1.0' } })],
    );
    expect(rows).toHaveLength(1);
    const since = Date.now();
    let last: string[] = both;
    // The replica polls every second; its page memo may hold the old page one more second.
    const want = JSON.stringify([wheel('ver-pkg', '1.0').filename]);
    await waitFor('the replica serving the rules changed in PostgreSQL', async () => (JSON.stringify((last = await filenames())) === want ? true : undefined), 4_000).catch(
      (err: unknown) => {
        throw new Error(`${(err as Error).message}: ${Date.now() - since} ms after the change the replica lists ${JSON.stringify(last)}`);
      },
    );
    expect((await admin(orchard, '/views/polled', 'DELETE')).status).toBe(204);
  });

  it('counts the files each view hides, by view and rule, on the gateway /metrics', async () => {
    // Pages built now, whatever the earlier tests built.
    for (const [view, project] of [
      ['snap', 'snap-a'],
      ['cooldown', 'cool-pkg'],
      ['pinned', 'ver-pkg'],
      ['stable', 'flags-pkg'],
    ] as const)
      expect((await get(`${viewIndex(view)}${project}/`, JSON_TYPE)).status).toBe(200);
    const families = await scrape(gw());
    expect(families.get('orchard_view_hidden_total')?.type).toBe('counter');
    for (const [view, rule] of [
      ['snap', 'exclude-newer'],
      ['cooldown', 'min-age'],
      ['pinned', 'versions'],
      ['stable', 'exclude-yanked'],
      ['stable', 'exclude-prereleases'],
    ] as const)
      expect(valueOf(families, 'orchard_view_hidden_total', { view, rule, kind: 'file' }), `${view} ${rule}`).toBeGreaterThan(0);
    // A view with no file rule hides no file (its allow rule hides projects, which are not files).
    expect(valueOf(families, 'orchard_view_hidden_total', { view: 'only-snap', kind: 'file' })).toBe(0);
  });
});
