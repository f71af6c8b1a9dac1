/**
 * The hot-path cost of access tracking (issue 15). With ORCHARD_STORAGE_QUOTA set, every gateway
 * process records which stored files it serves (flushed to PostgreSQL every few seconds) and the
 * fetcher runs an eviction job. Two Orchards identical but for the quota, which is far above the
 * corpus (nothing is evicted, so what differs is the tracking), both running, measured one at a
 * time in alternating order round after round, in one run.
 */
import { request } from 'undici';
import { drain } from './clients.js';
import type { Corpus } from './corpus.js';
import { startBenchOrchard, type OrchardUnderTest } from './orchard.js';
import { runWrk, type LoadResult } from './wrk.js';

/** Far above the corpus (about 1.3 GiB): nothing is evicted, only the tracking costs. */
const QUOTA = '100GiB';
const JSON_PAGE = { accept: 'application/vnd.pypi.simple.v1+json' };

/** One load, measured against both Orchards in every round. */
export interface TrackedLoad {
  /** What was loaded and how hard, e.g. "warm page json, 32 connections". */
  label: string;
  /** The figure's unit: requests per second, or MiB per second for a large file. */
  unit: 'req/s' | 'MiB/s';
  /** One wrk result per round, quota on and quota off. */
  on: LoadResult[];
  off: LoadResult[];
}

export interface AccessTrackingCost {
  quota: string;
  rounds: number;
  loads: TrackedLoad[];
}

/** What each Orchard is loaded with, once warm. */
interface Targets {
  page: string;
  smallFile: string;
  wheel: string;
}

/**
 * Measures {@link AccessTrackingCost}: a warm JSON page at 32 connections, a small cached wheel at 16
 * clients and the corpus's 35 MiB wheel at 4 streams, for `seconds` per side in each of `rounds`
 * rounds (many short rounds pair each side's result with one taken moments apart: on a shared
 * machine, load from elsewhere comes and goes within seconds).
 */
export async function measureAccessTrackingCost(upstreamSimpleUrl: string, corpus: Corpus, options: { seconds: number; rounds: number }): Promise<AccessTrackingCost> {
  const { seconds, rounds } = options;
  // Inherited by both Orchards, it would put the "off" side under a quota too.
  if (process.env.ORCHARD_STORAGE_QUOTA !== undefined) throw new Error('unset ORCHARD_STORAGE_QUOTA: the bench sets it for the quota-on Orchard only');
  const off = await startBenchOrchard(upstreamSimpleUrl);
  try {
    const on = await startBenchOrchard(upstreamSimpleUrl, { ORCHARD_STORAGE_QUOTA: QUOTA });
    try {
      const withoutQuota = { key: 'off', targets: await warm(off.orchard, corpus) } as const;
      const withQuota = { key: 'on', targets: await warm(on.orchard, corpus) } as const;
      const sides = [withoutQuota, withQuota];
      const mib = Math.round(corpus.medium.size / 2 ** 20);
      const loads = [
        { target: 'page', label: 'warm page json, 32 connections', unit: 'req/s', connections: 32, headers: JSON_PAGE },
        { target: 'smallFile', label: 'cached small file, 16 clients', unit: 'req/s', connections: 16 },
        { target: 'wheel', label: `cached ${mib} MiB wheel, 4 streams`, unit: 'MiB/s', connections: 4 },
      ] as const;
      const run = (side: (typeof sides)[number], load: (typeof loads)[number], forSeconds: number) =>
        runWrk(side.targets[load.target], { connections: load.connections, seconds: forSeconds, threads: 2, ...('headers' in load ? { headers: load.headers } : {}) });
      // JIT, the memo of every gateway process, the page cache: one short load each before measuring.
      for (const side of sides) for (const load of loads) await run(side, load, 1);
      const results = loads.map((load): TrackedLoad => ({ label: load.label, unit: load.unit, on: [], off: [] }));
      for (let round = 0; round < rounds; round++) {
        // Alternating order: a drift in the machine's speed (or the other Orchard's background work) favours neither side.
        const order = round % 2 === 0 ? sides : [...sides].reverse();
        for (const [i, load] of loads.entries()) for (const side of order) results[i]![side.key].push(await run(side, load, seconds));
      }
      // Evicted files would have been refetched while measured: the figure would not be the tracking's cost.
      for (const url of [withQuota.targets.smallFile, withQuota.targets.wheel]) {
        if (!(await answeredFromStorage(url))) throw new Error(`the quota-on Orchard no longer answers ${url} from storage: something was evicted under a ${QUOTA} quota`);
      }
      return { quota: QUOTA, rounds, loads: results };
    } finally {
      await on.stop();
    }
  } finally {
    await off.stop();
  }
}

/**
 * Fetches the loads' pages and files until each is warm: the page cached and re-rendered once its
 * files' metadata is extracted, the files stored (served from storage or the memo, not cold).
 */
async function warm(orchard: OrchardUnderTest, corpus: Corpus): Promise<Targets> {
  const page = `${orchard.url}/simple/${corpus.hotProject}/`;
  const smallPage = `${orchard.url}/simple/${corpus.smallProjects[0]!}/`;
  const listing = (await (await fetch(smallPage, { headers: JSON_PAGE })).json()) as { files: Array<{ url: string }> };
  const smallFile = new URL(listing.files[0]!.url, smallPage).toString();
  const wheel = `${orchard.url}/files/${corpus.medium.project}/${corpus.medium.sha256}/${corpus.medium.filename}`;
  await drain(`${orchard.url}/simple/${corpus.medium.project}/`);
  await drain(page, JSON_PAGE);
  for (const url of [smallFile, wheel]) await untilStored(url);
  await orchard.waitForIdleQueues();
  await drain(page, JSON_PAGE);
  return { page, smallFile, wheel };
}

async function untilStored(url: string, timeoutMs = 120_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await answeredFromStorage(url));) {
    if (Date.now() > deadline) throw new Error(`${url} not answered from storage within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * One GET of a file, read to the end (a download cut short could cancel the fetch it started): true
 * when Orchard answered from storage or its memo, whose answers carry no `X-Orchard-Cache`.
 */
async function answeredFromStorage(url: string): Promise<boolean> {
  const res = await request(url, { headersTimeout: 600_000, bodyTimeout: 600_000 });
  for await (const _chunk of res.body) {
    // read to the end
  }
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode}`);
  return res.headers['x-orchard-cache'] === undefined;
}
