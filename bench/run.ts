/**
 * `npm run bench`: Orchard against the physical limit of this machine. Every figure is measured
 * side by side with nginx serving the same bytes from the same disk in the same run, and reported
 * as a ratio. Prints a table and writes bench/results/bench-<date>.json.
 *
 * The hot-path cost of access tracking (issue 15) compares Orchard with itself instead: with
 * ORCHARD_STORAGE_QUOTA set far above the corpus and without it, side by side in the same run
 * (bench/lib/access-tracking.ts); its figures' "nginx" column is the quota-off Orchard. The cost of
 * a policy view (issue 16) likewise compares one Orchard's plain URLs with the same under a view
 * (bench/lib/view-cost.ts).
 *
 * Environment:
 * - BENCH_SECONDS: seconds of each wrk load (default 5; the access-tracking rounds take a third).
 * - BENCH_ONLY=quota: after the common setup (nginx, wrk, the corpus, the upstream), only the
 *   access-tracking figures (under 2 minutes at the default BENCH_SECONDS); the results file is
 *   bench-<date>-quota.json. BENCH_ONLY=views: only the policy view figures (bench-<date>-views.json).
 *   BENCH_ONLY=npm: only the npm figures (bench/lib/npm-bench.ts: npm installs and a packument through
 *   Orchard, straight from nginx and through Verdaccio), without the PyPI corpus (bench-<date>-npm.json).
 *   BENCH_ONLY=peers: only the pip installs and issue 18's peer figures (cold and warm installs, the
 *   herd, concurrent streams; Orchard, nginx and proxpi), about 3 minutes (bench-<date>-peers.json).
 *   Unset: the whole bench.
 */
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestS3, s3ServiceEnv } from '../test/support/s3.js';
import { S3BlobStore, blobKey } from '../libs/storage/index.js';
import { freePort } from '../test/support/orchard.js';
import { childPids } from '../test/support/processes.js';
import { drain, pipInstall, timed, timedDownload } from './lib/clients.js';
import { measureViewCost } from './lib/view-cost.js';
import { measureNpm, printNpmTable } from './lib/npm-bench.js';
import { measureAccessTrackingCost } from './lib/access-tracking.js';
import { ensureCorpus, type Corpus, type CorpusFile } from './lib/corpus.js';
import { cpuMsOf, minorFaultsOf, pidsNamed } from './lib/cpu-time.js';
import { aptInstall } from './lib/debian-packages.js';
import { BareNodeServer } from './lib/bare-node.js';
import { mirrorOrchard } from './lib/mirror.js';
import { StaticServer } from './lib/nginx.js';
import { startBenchOrchard, type OrchardUnderTest } from './lib/orchard.js';
import { measureCachedPageDuringFill } from './lib/page-fill-latency.js';
import { RssSampler, type RssPeaks } from './lib/rss.js';
import { ProxpiServer } from './lib/proxpi.js';
import { herd } from './lib/herd.js';
import { measureSlowHerd } from './lib/slow-herd.js';
import { runWrk, type LoadResult } from './lib/wrk.js';
import { median } from './lib/stats.js';
import { writeBenchResults } from './lib/results.js';

interface Figure {
  name: string;
  orchard: number;
  limit: number;
  unit: string;
  /** orchard / limit for throughputs, limit / orchard never: ratios are always "Orchard ÷ nginx". */
  ratio: number;
  target?: string;
  met?: boolean;
  extra?: Record<string, number>;
}

const HERE = import.meta.dirname;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ONLY = benchOnly(process.env.BENCH_ONLY);
const figures: Figure[] = [];
/** Peak RSS by phase and service: the largest process, and all of a service's processes together. */
const memory: Record<string, RssPeaks> = {};

/** A figure measured for Orchard, the upstream straight from nginx, and a peer proxy, in the same run. */
interface PeerFigure {
  name: string;
  unit: string;
  orchard: number;
  nginx: number;
  proxpi: number | null;
  goal: string;
  met: boolean;
  /** p50/p99 and counts where they apply. */
  extra?: Record<string, number | null>;
}
const peerFigures: PeerFigure[] = [];

function peerFigure(f: PeerFigure): void {
  peerFigures.push(f);
  const proxpi = f.proxpi === null ? 'proxpi not measured' : `proxpi ${f.proxpi.toFixed(2)} ${f.unit}`;
  const extra = f.extra ? ` ${JSON.stringify(f.extra)}` : '';
  console.log(`  ${f.name}: orchard ${f.orchard.toFixed(2)} ${f.unit}, nginx ${f.nginx.toFixed(2)} ${f.unit}, ${proxpi} (goal ${f.goal}: ${f.met ? 'met' : 'MISSED'})${extra}`);
}

/**
 * proxpi (the lightest peer, issue 18) with a fresh cache against the same upstream; null when it
 * cannot run here (its source is fetched from a local clone, never committed: see bench/lib/proxpi.ts).
 */
async function startProxpi(upstreamSimpleUrl: string): Promise<ProxpiServer | null> {
  const proxpi = new ProxpiServer(upstreamSimpleUrl);
  try {
    await proxpi.start();
    return proxpi;
  } catch (err) {
    console.log(`  proxpi not measured: ${(err as Error).message.split('\n')[0]}`);
    return null;
  }
}

/** Runs `run` and counts what `asked` tallies meanwhile (a server's own count of the requests it answered). */
async function counted<T>(run: () => Promise<T>, asked: () => Promise<number>): Promise<{ value: T; requests: number }> {
  const before = await asked();
  const value = await run();
  return { value, requests: (await asked()) - before };
}

/** The tree's cold install through a peer, then the median of three warm ones. */
async function peerInstalls(indexUrl: string, treeRoot: string): Promise<{ cold: number; warm: number; warmRounds: number[] }> {
  const cold = await pipInstall(indexUrl, treeRoot);
  const warmRounds = [await pipInstall(indexUrl, treeRoot), await pipInstall(indexUrl, treeRoot), await pipInstall(indexUrl, treeRoot)];
  return { cold, warm: [...warmRounds].sort((a, b) => a - b)[1]!, warmRounds };
}

const ms = (seconds: number) => Math.round(seconds * 1000);

/**
 * 50 clients asking at once for a cold 1 MB wheel whose page each proxy has cached: wall time, first
 * byte p50/p99 and the upstream GETs it cost (from the upstream's own access log), for Orchard,
 * proxpi, and the same clients straight at the upstream.
 */
async function herdFigure(orchardUrl: string, proxpi: ProxpiServer | null, upstream: StaticServer, file: CorpusFile): Promise<void> {
  const clients = 50;
  const gets = () => upstream.requestCount(`/files/${file.filename}`);
  const measure = async (pageUrl: string, fileUrl: string) => {
    // pip's Accept header (proxpi answers 406 to a request without one).
    await drain(pageUrl, { accept: 'text/html' });
    const { value: times, requests: upstreamGets } = await counted(() => herd(() => fileUrl, clients), gets);
    return { times, upstreamGets };
  };
  // The first herd a client process makes pays its own warm-up (50 new connections, undici's and
  // V8's first pass over that code): 300-400 ms more here, whichever server answers. An unmeasured
  // herd on the upstream takes it, so Orchard, measured first, is not charged for it.
  await herd(() => `${upstream.url}/files/${file.filename}`, clients);
  const o = await measure(`${orchardUrl}/simple/${file.project}/`, `${orchardUrl}/files/${file.project}/${file.sha256}/${file.filename}`);
  const p = proxpi ? await measure(`${proxpi.url}${file.project}/`, `${proxpi.url}${file.project}/${file.filename}`) : null;
  const n = await herd(() => `${upstream.url}/files/${file.filename}`, clients);
  peerFigure({
    name: `herd of ${clients} on a cold ${Math.round(file.size / 2 ** 20)} MiB wheel: wall (s)`,
    unit: 's',
    orchard: o.times.wallSeconds,
    nginx: n.wallSeconds,
    proxpi: p?.times.wallSeconds ?? null,
    goal: "≤ proxpi's",
    met: p !== null && o.times.wallSeconds <= p.times.wallSeconds,
    extra: {
      orchardUpstreamGets: o.upstreamGets,
      proxpiUpstreamGets: p?.upstreamGets ?? null,
      orchardFirstByteP50Ms: ms(o.times.firstByteP50Seconds),
      orchardFirstByteP99Ms: ms(o.times.firstByteP99Seconds),
      proxpiFirstByteP50Ms: p ? ms(p.times.firstByteP50Seconds) : null,
      proxpiFirstByteP99Ms: p ? ms(p.times.firstByteP99Seconds) : null,
      nginxFirstByteP50Ms: ms(n.firstByteP50Seconds),
      nginxFirstByteP99Ms: ms(n.firstByteP99Seconds),
    },
  });
}

/** Waits until proxpi answers the file from its cache (while it downloads, it redirects to the upstream). */
async function proxpiCached(url: string): Promise<void> {
  for (const deadline = Date.now() + 120_000; Date.now() < deadline;) {
    const res = await fetch(url, { redirect: 'manual' });
    await res.arrayBuffer();
    if (res.status === 200) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`proxpi did not cache ${url} within 120 s`);
}

/**
 * Runs a load and reads what the server's processes spent per GiB they sent: it tells a slow run's
 * cause (CPU, page faults, or neither: waiting).
 */
async function withCostPerGiB(run: () => Promise<LoadResult>, pids: readonly number[]) {
  const before = { cpuMs: cpuMsOf(pids), faults: minorFaultsOf(pids) };
  const result = await run();
  const sentGiB = (result.bytesPerSecond * SECONDS) / 2 ** 30;
  const perGiB = (value: number) => (sentGiB > 0 ? Math.round(value / sentGiB) : null);
  return { result, cpuMsPerGiB: perGiB(cpuMsOf(pids) - before.cpuMs), minorFaultsPerGiB: perGiB(minorFaultsOf(pids) - before.faults) };
}

/**
 * Cached wheels pulled by 1, 4 and 16 concurrent streams (wrk, each stream downloading the file
 * again and again): MiB/s and per-download p50/p99, Orchard, nginx and proxpi in turn. Beside them,
 * what Node itself manages here (bare `node:http` streaming the same file from disk in as many
 * processes as Orchard's gateway has), and what each server spent in CPU per GiB it sent.
 */
async function streamFigures(orchard: OrchardUnderTest, proxpi: ProxpiServer | null, upstream: StaticServer, corpus: Corpus): Promise<void> {
  for (const file of [corpus.medium, corpus.big]) {
    const orchardUrl = `${orchard.url}/files/${file.project}/${file.sha256}/${file.filename}`;
    const proxpiUrl = proxpi ? `${proxpi.url}${file.project}/${file.filename}` : null;
    await drain(`${orchard.url}/simple/${file.project}/`);
    await drain(orchardUrl);
    await orchard.waitForIdleQueues();
    if (proxpiUrl) {
      await drain(`${proxpi!.url}${file.project}/`, { accept: 'text/html' });
      await proxpiCached(proxpiUrl);
    }
    const gateway = [orchard.pid('gateway'), ...(await childPids(orchard.pid('gateway')))];
    const files = path.join(corpus.root, 'files');
    const bare = new BareNodeServer(await freePort(), path.join(files, corpus.herd.filename), path.join(files, file.filename), await orchard.gatewayProcesses());
    try {
      await bare.start();
      const barePids = await bare.pids();
      for (const streams of [1, 4, 16]) {
        const load = (url: string) => runWrk(url, { connections: streams, seconds: SECONDS, threads: Math.min(2, streams) });
        const o = await withCostPerGiB(() => load(orchardUrl), gateway);
        const n = await withCostPerGiB(() => load(`${upstream.url}/files/${file.filename}`), pidsNamed('nginx'));
        const b = await withCostPerGiB(() => load(`${bare.url}/file`), barePids);
        const p = proxpiUrl ? await load(proxpiUrl) : null;
        const mib = (r: LoadResult) => r.bytesPerSecond / 2 ** 20;
        peerFigure({
          name: `cached ${Math.round(file.size / 2 ** 20)} MiB wheel, ${streams} concurrent stream${streams > 1 ? 's' : ''} (MiB/s)`,
          unit: 'MiB/s',
          orchard: mib(o.result),
          nginx: mib(n.result),
          proxpi: p ? mib(p) : null,
          goal: streams > 1 ? '≥ 0.9× nginx' : 'measured',
          met: streams > 1 ? o.result.bytesPerSecond >= 0.9 * n.result.bytesPerSecond : true,
          extra: {
            orchardP50Ms: o.result.p50Ms,
            orchardP99Ms: o.result.p99Ms,
            nginxP50Ms: n.result.p50Ms,
            nginxP99Ms: n.result.p99Ms,
            proxpiP50Ms: p?.p50Ms ?? null,
            proxpiP99Ms: p?.p99Ms ?? null,
            orchardErrors: o.result.errors,
            proxpiErrors: p?.errors ?? null,
            orchardGatewayCpuMsPerGiB: o.cpuMsPerGiB,
            orchardGatewayMinorFaultsPerGiB: o.minorFaultsPerGiB,
            nginxCpuMsPerGiB: n.cpuMsPerGiB,
            bareNodeMiBs: Math.round(mib(b.result)),
            bareNodeCpuMsPerGiB: b.cpuMsPerGiB,
          },
        });
      }
    } finally {
      await bare.stop();
    }
  }
}

/** BENCH_ONLY, checked before anything starts: the one part of the bench to run, or undefined for all of it. */
function benchOnly(value: string | undefined): 'quota' | 'views' | 'npm' | 'peers' | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'quota' || value === 'views' || value === 'npm' || value === 'peers') return value;
  throw new Error(`BENCH_ONLY=${value}: expected "quota", "views", "npm" or "peers", or unset for the whole bench`);
}

/** `sides` names the two columns in the progress line when they are not Orchard and nginx. */
function figure({ sides, ...f }: Omit<Figure, 'ratio'> & { ratio?: number; sides?: { orchard: string; limit: string } }): void {
  const ratio = f.ratio ?? f.orchard / f.limit;
  figures.push({ ...f, ratio: Math.round(ratio * 1000) / 1000 });
  const { orchard, limit } = sides ?? { orchard: 'orchard', limit: 'nginx' };
  console.log(
    `  ${f.name}: ${orchard} ${f.orchard.toFixed(2)} ${f.unit}, ${limit} ${f.limit.toFixed(2)} ${f.unit}, ratio ${ratio.toFixed(3)}${f.target ? ` (target ${f.target}: ${f.met ? 'met' : 'MISSED'})` : ''}`,
  );
}

/**
 * Warm page, cached small file and cached 35 MiB wheel through an Orchard with a storage quota
 * (tracking every file it serves) and one without: each side's median over the rounds, and the
 * median of the rounds' ratios, quota on ÷ quota off.
 */
async function accessTrackingFigures(corpus: Corpus, upstream: StaticServer): Promise<void> {
  console.log('hot-path cost of access tracking: two Orchards, storage quota on and off, alternating rounds…');
  const started = performance.now();
  // Six rounds of a third of BENCH_SECONDS per side: about as long as two rounds of BENCH_SECONDS,
  // with each side's result paired with one taken seconds apart.
  const cost = await measureAccessTrackingCost(`${upstream.url}/simple/`, corpus, { seconds: Math.max(1, Math.round(SECONDS / 3)), rounds: 6 });
  for (const load of cost.loads) {
    const value = (r: LoadResult) => (load.unit === 'MiB/s' ? r.bytesPerSecond / 2 ** 20 : r.requestsPerSecond);
    const on = median(load.on.map(value));
    const off = median(load.off.map(value));
    // The median of each round's ratio: a round's two sides ran moments apart, under the same load from elsewhere.
    const ratio = median(load.on.map((r, i) => value(r) / value(load.off[i]!)));
    figure({
      name: `access tracking: ${load.label}, quota on vs off (${load.unit})`,
      orchard: on,
      limit: off,
      unit: load.unit,
      target: '≥ 0.97×',
      ratio,
      met: ratio >= 0.97,
      sides: { orchard: `quota ${cost.quota}`, limit: 'no quota' },
      extra: {
        ...Object.fromEntries(
          load.on.flatMap((r, i) => [
            [`onRound${i + 1}`, Math.round(value(r) * 100) / 100],
            [`offRound${i + 1}`, Math.round(value(load.off[i]!) * 100) / 100],
          ]),
        ),
        onP99Ms: median(load.on.map((r) => r.p99Ms)),
        offP99Ms: median(load.off.map((r) => r.p99Ms)),
        onErrors: load.on.reduce((n, r) => n + r.errors, 0),
        offErrors: load.off.reduce((n, r) => n + r.errors, 0),
      },
    });
  }
  console.log(`  (${Math.round((performance.now() - started) / 1000)} s, both Orchards' start and warm-up included)`);
}

function ensureTools(): void {
  const missing = ['nginx', 'wrk'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  aptInstall(missing.map((m) => (m === 'nginx' ? 'nginx-light' : m)));
}

async function pageThroughput(orchardUrl: string, mirror: StaticServer, mirrorDir: string, project: string, processes: number, connectionCounts = [32, 256]): Promise<void> {
  const variants = [
    { name: 'html', accept: 'text/html', encoding: undefined, file: 'page.html' },
    { name: 'json', accept: 'application/vnd.pypi.simple.v1+json', encoding: undefined, file: 'page.json' },
    { name: 'html+gzip', accept: 'text/html', encoding: 'gzip', file: 'page.html.gz' },
    { name: 'json+gzip', accept: 'application/vnd.pypi.simple.v1+json', encoding: 'gzip', file: 'page.json.gz' },
  ];
  for (const v of variants) {
    const headers: Record<string, string> = { accept: v.accept, ...(v.encoding ? { 'accept-encoding': v.encoding } : {}) };
    // The static server serves exactly the bytes Orchard serves for this representation.
    const res = await fetch(`${orchardUrl}/simple/${project}/`, { headers: { ...headers, 'accept-encoding': v.encoding ?? 'identity' } });
    const body = Buffer.from(await (v.encoding ? rawBody(`${orchardUrl}/simple/${project}/`, headers) : res.arrayBuffer()));
    await writeFile(path.join(mirrorDir, v.file), body);
    for (const connections of connectionCounts) {
      const o = await runWrk(`${orchardUrl}/simple/${project}/`, { connections, seconds: SECONDS, headers });
      const n = await runWrk(`${mirror.url}/${v.file}`, { connections, seconds: SECONDS });
      const name = `warm page ${v.name}, ${connections} connections, ${processes} gateway process${processes > 1 ? 'es' : ''} (req/s)`;
      const target = connections === 32 ? '≥ 0.5× and p99 ≤ 10 ms' : undefined;
      figure({
        name,
        orchard: o.requestsPerSecond,
        limit: n.requestsPerSecond,
        unit: 'req/s',
        ...(target ? { target, met: o.requestsPerSecond >= 0.5 * n.requestsPerSecond && o.p99Ms <= 10 } : {}),
        extra: latency(o, n),
      });
    }
  }
}

/** A small project's wheel through Orchard and the same file straight from nginx. */
async function smallFileUrls(orchardUrl: string, project: string, nginxUrl: string): Promise<{ orchard: string; nginx: string }> {
  const pageUrl = `${orchardUrl}/simple/${project}/`;
  const page = (await (await fetch(pageUrl, { headers: { accept: 'application/vnd.pypi.simple.v1+json' } })).json()) as { files: Array<{ url: string; filename: string }> };
  const file = page.files[0]!;
  return { orchard: new URL(file.url, pageUrl).toString(), nginx: `${nginxUrl}/files/${file.filename}` };
}

async function rawBody(url: string, headers: Record<string, string>): Promise<ArrayBuffer> {
  const { request } = await import('undici');
  const res = await request(url, { headers });
  return (await res.body.arrayBuffer()) as ArrayBuffer;
}

function latency(o: LoadResult, n: LoadResult): Record<string, number> {
  return { orchardP50Ms: o.p50Ms, orchardP99Ms: o.p99Ms, nginxP50Ms: n.p50Ms, nginxP99Ms: n.p99Ms, orchardErrors: o.errors };
}

async function fileThroughput(label: string, orchardUrl: string, nginxUrl: string, withTarget = true): Promise<void> {
  for (const connections of [1, 16]) {
    const o = await runWrk(orchardUrl, { connections, seconds: SECONDS, threads: Math.min(2, connections) });
    const n = await runWrk(nginxUrl, { connections, seconds: SECONDS, threads: Math.min(2, connections) });
    figure({
      name: `cached file ${label}, ${connections} client${connections > 1 ? 's' : ''} (MiB/s)`,
      orchard: o.bytesPerSecond / 2 ** 20,
      limit: n.bytesPerSecond / 2 ** 20,
      unit: 'MiB/s',
      ...(withTarget ? { target: '≥ 0.8×', met: o.bytesPerSecond >= 0.8 * n.bytesPerSecond } : {}),
    });
  }
}

/**
 * Orchard on the fs store against nginx: installs, peers, pages, cold and cached files, 1 GB downloads,
 * peak RSS per service.
 */
async function fsStoreFigures(corpus: Corpus, upstream: StaticServer, mirror: StaticServer, mirrorDir: string): Promise<void> {
  const fs = await startBenchOrchard(`${upstream.url}/simple/`);
  const o = fs.orchard;
  const samplers = (['gateway', 'fetcher', 'extractor'] as const).map((s) => [s, new RssSampler(o.pid(s)).start()] as const);
  try {
    console.log('pip install of a 25-package tree (fresh target, no pip cache)…');
    // Cold means nothing of the tree is cached, not freshly started processes: a proxy runs for days.
    // One unrelated install first pays the services' start-up costs (JIT, Prisma's query compiler,
    // connection pools, lazily loaded modules); it is reported on its own.
    const firstProject = corpus.smallProjects.at(-1)!;
    const first = await pipInstall(`${o.url}/simple/`, firstProject);
    const firstDirect = await pipInstall(`${upstream.url}/simple/`, firstProject);
    figure({ name: 'first install after the services start, 1 package (s)', orchard: first, limit: firstDirect, unit: 's', ratio: first / firstDirect });
    await o.waitForIdleQueues();
    // What pip asked for, by each server's own count: Orchard's pages advertise the metadata it
    // extracted (PEP 658), which pip then fetches too; the upstream's pages advertise none.
    const orchardAsked = () => o.pypiRequests();
    const nginxAsked = async () => (await upstream.requestedPaths()).length;
    const coldRun = await counted(() => pipInstall(`${o.url}/simple/`, corpus.treeRoot), orchardAsked);
    const directRun = await counted(() => pipInstall(`${upstream.url}/simple/`, corpus.treeRoot), nginxAsked);
    const [cold, direct1] = [coldRun.value, directRun.value];
    figure({ name: 'cold pip install (s)', orchard: cold, limit: direct1, unit: 's', ratio: cold / direct1, target: '≤ 1.5×', met: cold <= 1.5 * direct1 });
    // Warm: once the cold install's fetches and extractions have finished. The limit is nginx
    // serving Orchard's own pages, metadata files and wheels from disk (the same bytes at the same
    // URLs, so pip makes the same requests); the install straight from the upstream is shown too.
    // Three rounds, the median round reported (one pip run swings with the machine's load).
    await o.waitForIdleQueues();
    const treeProjects = [corpus.treeRoot, ...Array.from({ length: corpus.treeSize - 1 }, (_, i) => `tree-dep-${i + 1}`)];
    await pipInstall(`${o.url}/simple/`, corpus.treeRoot);
    await mirrorOrchard(o.url, treeProjects, mirrorDir);
    const rounds: Array<{ orchard: number; mirror: number; upstream: number; orchardRequests: number; upstreamRequests: number }> = [];
    for (let i = 0; i < 3; i++) {
      const orchardRun = await counted(() => pipInstall(`${o.url}/simple/`, corpus.treeRoot), orchardAsked);
      const mirrorSeconds = await pipInstall(`${mirror.url}/simple/`, corpus.treeRoot);
      const upstreamRun = await counted(() => pipInstall(`${upstream.url}/simple/`, corpus.treeRoot), nginxAsked);
      rounds.push({ orchard: orchardRun.value, mirror: mirrorSeconds, upstream: upstreamRun.value, orchardRequests: orchardRun.requests, upstreamRequests: upstreamRun.requests });
    }
    const warm = [...rounds].sort((a, b) => a.orchard / a.mirror - b.orchard / b.mirror)[1]!;
    const extra = Object.fromEntries(
      rounds.flatMap((r, i) => [
        [`orchard${i + 1}`, r.orchard],
        [`mirror${i + 1}`, r.mirror],
        [`upstream${i + 1}`, r.upstream],
      ]),
    );
    figure({
      name: "warm pip install vs nginx serving Orchard's bytes, median of 3 (s)",
      orchard: warm.orchard,
      limit: warm.mirror,
      unit: 's',
      ratio: warm.orchard / warm.mirror,
      target: '≤ 1.15×',
      met: warm.orchard <= 1.15 * warm.mirror,
      extra,
    });
    figure({
      name: 'warm pip install vs the upstream straight from nginx, same round (s)',
      orchard: warm.orchard,
      limit: warm.upstream,
      unit: 's',
      ratio: warm.orchard / warm.upstream,
    });

    console.log('peers in the same run: the installs, a herd and concurrent streams through proxpi (fresh cache, same upstream)…');
    const proxpi = await startProxpi(`${upstream.url}/simple/`);
    try {
      const peer = proxpi ? await peerInstalls(proxpi.url, corpus.treeRoot) : null;
      peerFigure({
        name: 'cold pip install, 25 packages (s)',
        unit: 's',
        orchard: cold,
        nginx: direct1,
        proxpi: peer?.cold ?? null,
        goal: '≤ 1.2× nginx and faster than proxpi',
        met: cold <= 1.2 * direct1 && peer !== null && cold < peer.cold,
        extra: { orchardRequests: coldRun.requests, nginxRequests: directRun.requests },
      });
      peerFigure({
        name: 'warm pip install, 25 packages, median of 3 (s)',
        unit: 's',
        orchard: warm.orchard,
        nginx: warm.upstream,
        proxpi: peer?.warm ?? null,
        goal: '≤ 1.02× nginx',
        met: warm.orchard <= 1.02 * warm.upstream,
        extra: Object.fromEntries([
          ...rounds.flatMap((r, i) => [
            [`orchardRound${i + 1}`, r.orchard],
            [`nginxRound${i + 1}`, r.upstream],
          ]),
          ...(peer?.warmRounds ?? []).map((seconds, i) => [`proxpiRound${i + 1}`, seconds]),
          ['orchardRequestsPerInstall', rounds.at(-1)!.orchardRequests],
          ['nginxRequestsPerInstall', rounds.at(-1)!.upstreamRequests],
        ]),
      });
      await herdFigure(o.url, proxpi, upstream, corpus.herd);
      await streamFigures(o, proxpi, upstream, corpus);
    } finally {
      await proxpi?.stop();
    }
    if (ONLY === 'peers') return;

    console.log('warm index pages…');
    await drain(`${o.url}/simple/${corpus.hotProject}/`);
    await pageThroughput(o.url, mirror, mirrorDir, corpus.hotProject, await o.gatewayProcesses());

    console.log('cold fetch of a 200 MB wheel (upstream → storage)…');
    const bigUrl = `${o.url}/files/${corpus.big.project}/${corpus.big.sha256}/${corpus.big.filename}`;
    const bigDirect = `${upstream.url}/files/${corpus.big.filename}`;
    await drain(`${o.url}/simple/${corpus.big.project}/`);
    const coldFetch = await timedDownload(bigUrl);
    const directFetch = await timedDownload(bigDirect);
    figure({
      name: 'cold fetch 200 MB (MiB/s)',
      orchard: corpus.big.size / 2 ** 20 / coldFetch.done,
      limit: corpus.big.size / 2 ** 20 / directFetch.done,
      unit: 'MiB/s',
      extra: { orchardFirstByteMs: Math.round(coldFetch.firstByte * 1000), nginxFirstByteMs: Math.round(directFetch.firstByte * 1000) },
    });

    console.log('cold small files (fetches per second)…');
    const smalls = corpus.smallProjects.slice(0, 200);
    const smallUrls: Array<{ orchard: string; nginx: string }> = [];
    for (const p of smalls) smallUrls.push(await smallFileUrls(o.url, p, upstream.url));
    const smallSeconds = await timed(
      smallUrls.map((u) => () => drain(u.orchard)),
      16,
    );
    const directSmall = await timed(
      smallUrls.map((u) => () => drain(u.nginx)),
      16,
    );
    figure({ name: 'cold small-file fetches (files/s)', orchard: smalls.length / smallSeconds, limit: smalls.length / directSmall, unit: 'files/s' });

    console.log('cached small files (fs store, file memo)…');
    const small = await smallFileUrls(o.url, corpus.smallProjects[0]!, upstream.url);
    await drain(small.orchard);
    await drain(small.orchard);
    const so = await runWrk(small.orchard, { connections: 32, seconds: SECONDS });
    const sn = await runWrk(small.nginx, { connections: 32, seconds: SECONDS });
    figure({ name: 'cached 5 KB wheel, 32 connections (req/s)', orchard: so.requestsPerSecond, limit: sn.requestsPerSecond, unit: 'req/s', extra: latency(so, sn) });

    console.log('bare node:http serving the same bytes (the ceiling for one Node process here)…');
    const bare = new BareNodeServer(await freePort(), path.join(mirrorDir, 'page.html'), path.join(corpus.root, 'files', corpus.big.filename));
    try {
      await bare.start();
      const bo = await runWrk(`${bare.url}/page`, { connections: 32, seconds: SECONDS });
      const bn = await runWrk(`${mirror.url}/page.html`, { connections: 32, seconds: SECONDS });
      figure({
        name: 'bare node:http (no Orchard), page html, 32 connections (req/s)',
        orchard: bo.requestsPerSecond,
        limit: bn.requestsPerSecond,
        unit: 'req/s',
        extra: latency(bo, bn),
      });
      await fileThroughput('bare node:http (no Orchard) 200 MB', `${bare.url}/file`, bigDirect, false);
    } finally {
      await bare.stop();
    }

    console.log('10 clients downloading a 1 GB file (cold, then warm)…');
    const hugeUrl = `${o.url}/files/${corpus.huge.project}/${corpus.huge.sha256}/${corpus.huge.filename}`;
    await drain(`${o.url}/simple/${corpus.huge.project}/`);
    const hugeSamplers = (['gateway', 'fetcher', 'extractor'] as const).map((s) => [s, new RssSampler(o.pid(s)).start()] as const);
    await timed(
      Array.from({ length: 10 }, () => () => drain(hugeUrl)),
      10,
    );
    await timed(
      Array.from({ length: 10 }, () => () => drain(hugeUrl)),
      10,
    );
    for (const [s, sampler] of hugeSamplers) memory[`${s} peak RSS, 10×1 GB downloads (MiB)`] = await sampler.stop();
  } finally {
    for (const [s, sampler] of samplers) memory[`${s} peak RSS, whole fs run (MiB)`] = await sampler.stop();
    await fs.stop();
  }
}

/** Figures each measured on an Orchard of its own: a page during fills, a slow herd, the S3 store. */
async function separateOrchardFigures(corpus: Corpus, upstream: StaticServer): Promise<void> {
  console.log('a cached page while a maximal upstream page fills (its own gateway)…');
  const fill = await measureCachedPageDuringFill(2 * SECONDS);
  figure({
    name: `p99 of a cached page while ${fill.files}-file pages fill vs with no fill, 32 conn (ms)`,
    orchard: fill.filling.p99Ms,
    limit: fill.idle.p99Ms,
    unit: 'ms',
    ratio: fill.filling.p99Ms / fill.idle.p99Ms,
    extra: {
      fills: fill.fills,
      secondsPerFill: fill.secondsPerFill,
      pageBytes: fill.pageBytes,
      fillingRps: fill.filling.requestsPerSecond,
      idleRps: fill.idle.requestsPerSecond,
      fillingP50Ms: fill.filling.p50Ms,
      idleP50Ms: fill.idle.p50Ms,
    },
  });
  memory['gateway peak RSS while maximal pages fill (MiB)'] = fill.gatewayPeakRss;

  console.log('a herd of 50 on one cold 30 MB file from a 3 MB/s upstream (its own Orchard)…');
  const herd = await measureSlowHerd();
  figure({
    name: `herd of ${herd.clients} on a cold ${Math.round(herd.fileBytes / 1e6)} MB file at ${herd.upstreamBytesPerSecond / 1e6} MB/s: wall (s), Orchard vs straight at the upstream`,
    orchard: herd.orchard.wallSeconds,
    limit: herd.direct.wallSeconds,
    unit: 's',
    ratio: herd.orchard.wallSeconds / herd.direct.wallSeconds,
    target: '1 upstream GET',
    met: herd.upstreamGets === 1,
    extra: {
      upstreamGets: herd.upstreamGets,
      orchardFirstByteP50Ms: Math.round(herd.orchard.firstByteP50Seconds * 1000),
      orchardFirstByteP99Ms: Math.round(herd.orchard.firstByteP99Seconds * 1000),
      directFirstByteP50Ms: Math.round(herd.direct.firstByteP50Seconds * 1000),
      directFirstByteP99Ms: Math.round(herd.direct.firstByteP99Seconds * 1000),
    },
  });

  console.log('cached file throughput (S3 store on s3rver)…');
  const s3 = await startTestS3();
  const s3Orchard = await startBenchOrchard(`${upstream.url}/simple/`, {
    ...s3ServiceEnv(s3),
    ORCHARD_FETCH_WAIT_MS: '600000',
  });
  try {
    const url = `${s3Orchard.orchard.url}/files/${corpus.big.project}/${corpus.big.sha256}/${corpus.big.filename}`;
    await drain(`${s3Orchard.orchard.url}/simple/${corpus.big.project}/`);
    await drain(url);
    await fileThroughput('s3 200 MB', url, `${upstream.url}/files/${corpus.big.filename}`);
    // s3rver itself (a presigned GET straight to it) against nginx: how much of the S3 figure is
    // s3rver's own cost rather than Orchard's.
    const store = new S3BlobStore({
      endpoint: s3.endpoint,
      bucket: s3.bucket,
      region: s3.region,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      forcePathStyle: true,
    });
    const direct = await store.presignedUrl(blobKey(corpus.big.sha256), { expiresInSeconds: 600 });
    await store.close();
    await fileThroughput('s3rver direct (no Orchard) 200 MB', direct, `${upstream.url}/files/${corpus.big.filename}`, false);
  } finally {
    await s3Orchard.stop();
    await s3.stop();
  }
}

/** bench/extraction.ts and bench/batch-insert.ts, each in a process of its own: their JSON by script name. */
function extractionBenches(): Record<string, unknown> {
  const extras: Record<string, unknown> = {};
  for (const script of ['extraction.ts', 'batch-insert.ts']) {
    const file = path.join(HERE, script);
    const run = spawnSync(process.execPath, ['--import', 'tsx', file], { encoding: 'utf8', timeout: 300_000 });
    // The script prints one JSON document (possibly pretty-printed) after any progress lines.
    const start = run.stdout.search(/^\{/m);
    const last = start >= 0 ? run.stdout.slice(start) : '';
    try {
      extras[script.replace('.ts', '')] = JSON.parse(last);
      console.log(`  ${script}: ${last}`);
    } catch {
      extras[script.replace('.ts', '')] = { error: (run.stderr || run.stdout).slice(-500) };
    }
  }
  return extras;
}

/**
 * A warm page and a cached small file through a policy view and at their plain URLs, on one Orchard:
 * each side's median over the rounds, and the median of the rounds' ratios, view ÷ plain.
 */
async function viewFigures(corpus: Corpus, upstream: StaticServer): Promise<void> {
  console.log('cost of a policy view: the same Orchard, plain and under a view, alternating rounds…');
  const started = performance.now();
  const cost = await measureViewCost(`${upstream.url}/simple/`, corpus, { seconds: Math.max(1, Math.round(SECONDS / 3)), rounds: 6 });
  for (const load of cost.loads) {
    const value = (r: LoadResult) => r.requestsPerSecond;
    const ratio = median(load.view.map((r, i) => value(r) / value(load.plain[i]!)));
    figure({
      name: `policy view: ${load.label}, under a view vs plain (${load.unit})`,
      orchard: median(load.view.map(value)),
      limit: median(load.plain.map(value)),
      unit: load.unit,
      target: '≥ 0.9×',
      ratio,
      met: ratio >= 0.9,
      sides: { orchard: 'view', limit: 'plain' },
      extra: {
        ...Object.fromEntries(
          load.view.flatMap((r, i) => [
            [`viewRound${i + 1}`, Math.round(value(r))],
            [`plainRound${i + 1}`, Math.round(value(load.plain[i]!))],
          ]),
        ),
        viewP99Ms: median(load.view.map((r) => r.p99Ms)),
        plainP99Ms: median(load.plain.map((r) => r.p99Ms)),
        viewErrors: load.view.reduce((n, r) => n + r.errors, 0),
        plainErrors: load.plain.reduce((n, r) => n + r.errors, 0),
      },
    });
  }
  console.log(`  (${Math.round((performance.now() - started) / 1000)} s, the Orchard's start and warm-up included)`);
}

/** The PyPI figures: the corpus, its nginx upstream and mirror, and every figure measured on them. */
async function pypiFigures(extras: Record<string, unknown>): Promise<void> {
  console.log('corpus…');
  const corpus = await ensureCorpus(path.join(HERE, '.corpus'));
  const work = await mkdtemp(path.join(os.tmpdir(), 'orchard-bench-'));
  // nginx's workers run as an unprivileged user: mkdtemp's 0700 would make every mirror file a 403.
  await chmod(work, 0o755);
  const upstream = new StaticServer(corpus.root, await freePort(), path.join(work, 'nginx-upstream'), true);
  await upstream.start();
  const mirrorDir = path.join(work, 'mirror');
  await mkdir(mirrorDir, { recursive: true });
  const mirror = new StaticServer(mirrorDir, await freePort(), path.join(work, 'nginx-mirror'));
  await mirror.start();
  try {
    if (!ONLY || ONLY === 'peers') await fsStoreFigures(corpus, upstream, mirror, mirrorDir);
    if (!ONLY || ONLY === 'quota') await accessTrackingFigures(corpus, upstream);
    if (!ONLY || ONLY === 'views') await viewFigures(corpus, upstream);
    if (!ONLY) {
      await separateOrchardFigures(corpus, upstream);
      Object.assign(extras, extractionBenches());
    }
  } finally {
    await upstream.stop();
    await mirror.stop();
  }
  await rm(work, { recursive: true, force: true });
}

async function main(): Promise<void> {
  ensureTools();
  const started = Date.now();
  const extras: Record<string, unknown> = {};
  if (ONLY !== 'npm') await pypiFigures(extras);
  // The npm figures need none of the PyPI setup: a registry, an Orchard and a Verdaccio of their own.
  const npm = !ONLY || ONLY === 'npm' ? await measureNpm({ seconds: SECONDS }) : undefined;
  const result = {
    date: new Date().toISOString(),
    machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    seconds: Math.round((Date.now() - started) / 1000),
    figures,
    peers: peerFigures,
    memory,
    ...(npm ? { npm } : {}),
    ...(ONLY ? { only: ONLY } : {}),
    ...extras,
  };
  const out = await writeBenchResults(result, ONLY, result.date);
  if (figures.length > 0) console.log('\n| figure | Orchard | nginx | ratio | target |\n|---|---|---|---|---|');
  for (const f of figures)
    console.log(`| ${f.name} | ${f.orchard.toFixed(1)} | ${f.limit.toFixed(1)} | ${f.ratio.toFixed(2)} | ${f.target ? `${f.target} ${f.met ? '✓' : '✗'}` : ''} |`);
  for (const [k, v] of Object.entries(memory)) {
    const all = v.processes > 1 ? ` (all ${v.processes} processes: ${v.totalMiB} MiB)` : '';
    console.log(`| ${k} | ${v.largestMiB} MiB${all} | | | < 200 MiB per process ${v.largestMiB < 200 ? '✓' : '✗'} |`);
  }
  if (peerFigures.length > 0) console.log('\n| figure (peers, same run) | Orchard | nginx (upstream direct) | proxpi | goal |\n|---|---|---|---|---|');
  for (const f of peerFigures)
    console.log(`| ${f.name} | ${f.orchard.toFixed(2)} | ${f.nginx.toFixed(2)} | ${f.proxpi === null ? 'not measured' : f.proxpi.toFixed(2)} | ${f.goal} ${f.met ? '✓' : '✗'} |`);
  if (npm) printNpmTable(npm);
  console.log(`\nwritten to ${out} in ${result.seconds} s`);
}

await main();
