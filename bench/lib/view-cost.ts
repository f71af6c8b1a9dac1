/**
 * What serving through a policy view costs (issue 16): one Orchard with a view, a warm JSON page and
 * a cached small file asked for at their plain URLs and under the view, one after the other in
 * alternating order round after round, in one run. The view filters (a deny list and yanked files),
 * so each of its pages is a build of its own, not the plain page.
 */
import { drain } from './clients.js';
import type { Corpus } from './corpus.js';
import { startBenchOrchard } from './orchard.js';
import { runWrk, type LoadResult } from './wrk.js';

const VIEW = 'bench';
const VIEWS = `${VIEW}:deny=no-such-project-*,exclude-yanked,unknown-upload-time=include`;
const JSON_PAGE = { accept: 'application/vnd.pypi.simple.v1+json' };

export interface ViewLoad {
  label: string;
  unit: 'req/s';
  /** One wrk result per round: under the view, and plain. */
  view: LoadResult[];
  plain: LoadResult[];
}

export interface ViewCost {
  views: string;
  rounds: number;
  loads: ViewLoad[];
}

/** Measures {@link ViewCost} for `seconds` per side in each of `rounds` rounds. */
export async function measureViewCost(upstreamSimpleUrl: string, corpus: Corpus, options: { seconds: number; rounds: number }): Promise<ViewCost> {
  const { seconds, rounds } = options;
  const { orchard, stop } = await startBenchOrchard(upstreamSimpleUrl, { ORCHARD_VIEWS: VIEWS });
  try {
    const plainBase = orchard.url;
    const viewBase = `${orchard.url}/v/${VIEW}`;
    const page = (base: string) => `${base}/simple/${corpus.hotProject}/`;
    const smallPage = `${plainBase}/simple/${corpus.smallProjects[0]!}/`;
    const listing = (await (await fetch(smallPage, { headers: JSON_PAGE })).json()) as { files: Array<{ url: string }> };
    // The same link under both: `../../files/…` from either page.
    const smallFile = (base: string) => new URL(listing.files[0]!.url, `${base}/simple/${corpus.smallProjects[0]!}/`).toString();
    await drain(page(plainBase), JSON_PAGE);
    await drain(smallFile(plainBase));
    await orchard.waitForIdleQueues();
    const loads = [
      { label: 'warm page json, 32 connections', connections: 32, url: page, headers: JSON_PAGE },
      { label: 'cached small file, 16 clients', connections: 16, url: smallFile },
    ] as const;
    const sides = [
      { key: 'view', base: viewBase },
      { key: 'plain', base: plainBase },
    ] as const;
    const run = (side: (typeof sides)[number], load: (typeof loads)[number], forSeconds: number) =>
      runWrk(load.url(side.base), { connections: load.connections, seconds: forSeconds, threads: 2, ...('headers' in load ? { headers: load.headers } : {}) });
    for (const side of sides) for (const load of loads) await run(side, load, 1);
    const results = loads.map((load): ViewLoad => ({ label: load.label, unit: 'req/s', view: [], plain: [] }));
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const [i, load] of loads.entries()) for (const side of order) results[i]![side.key].push(await run(side, load, seconds));
    }
    return { views: VIEWS, rounds, loads: results };
  } finally {
    await stop();
  }
}
