/**
 * `npx tsx bench/probe-cold-split.ts` (after `npm run build`): splits the cold install's gap to nginx
 * into the part its pages cause and the part its files cause. Each round installs the 25-package tree
 * through fresh services four times, after one unrelated install (as the bench does): `cold` (nothing
 * cached), `pagesWarm` (every dependency's page fetched through Orchard first: the most a prefetch
 * of dependency pages could give), `filesWarm` (the tree installed once, then every cached page
 * dropped through the admin API: files stored, pages cold) and `warm` (the tree installed once). The
 * extractor does not run, so pages never advertise metadata files and pip makes the same 50
 * requests in every mode. nginx's install of the same tree from the upstream runs before and after
 * the four; each ratio is over their mean. PROBE_ROUNDS: rounds (default 6). Writes
 * bench/results/bench-<date>-cold-split.json.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../test/support/orchard.js';
import { pipInstall } from './lib/clients.js';
import { ensureCorpus } from './lib/corpus.js';
import { StaticServer } from './lib/nginx.js';
import { startBenchOrchard, type OrchardUnderTest } from './lib/orchard.js';
import { median } from './lib/stats.js';
import { writeBenchResults } from './lib/results.js';

const MODES = ['cold', 'pagesWarm', 'filesWarm', 'warm'] as const;
type Mode = (typeof MODES)[number];
const ADMIN_TOKEN = 'probe-cold-split-admin-token';
/** Without the extractor the `extract` queue never empties: waits are timed instead, past the 1 s page memo. */
const SETTLE_MS = 2_500;

interface Reading {
  round: number;
  seconds: Record<Mode, number>;
  direct: [number, number];
  ratios: Record<Mode, number>;
}

const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

async function prepare(mode: Mode, o: OrchardUnderTest, tree: string, dependencies: string[]): Promise<void> {
  if (mode === 'pagesWarm') await Promise.all(dependencies.map(async (name) => (await fetch(`${o.url}/simple/${name}/`)).text()));
  if (mode === 'filesWarm' || mode === 'warm') await pipInstall(`${o.url}/simple/`, tree);
  if (mode === 'filesWarm') {
    const purge = await fetch(`${o.url}/api/v1/admin/cache/pages`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    if (!purge.ok) throw new Error(`dropping the cached pages answered ${purge.status}`);
  }
  await settle();
}

const corpus = await ensureCorpus(path.join(import.meta.dirname, '.corpus'));
const dependencies = Array.from({ length: corpus.treeSize - 1 }, (_, i) => `tree-dep-${i + 1}`);
const work = await mkdtemp(path.join(os.tmpdir(), 'orchard-probe-cold-split-'));
const upstream = new StaticServer(corpus.root, await freePort(), path.join(work, 'nginx'));
await upstream.start();
const rounds: Reading[] = [];
try {
  for (let round = 0; round < Number(process.env.PROBE_ROUNDS ?? 6); round++) {
    const directBefore = await pipInstall(`${upstream.url}/simple/`, corpus.treeRoot);
    const seconds = {} as Record<Mode, number>;
    for (const mode of MODES) {
      const { orchard, stop } = await startBenchOrchard(`${upstream.url}/simple/`, { ORCHARD_ADMIN_TOKEN: ADMIN_TOKEN }, ['gateway', 'fetcher']);
      try {
        await pipInstall(`${orchard.url}/simple/`, corpus.smallProjects.at(-1)!);
        await prepare(mode, orchard, corpus.treeRoot, dependencies);
        seconds[mode] = await pipInstall(`${orchard.url}/simple/`, corpus.treeRoot);
      } finally {
        await stop();
      }
    }
    const directAfter = await pipInstall(`${upstream.url}/simple/`, corpus.treeRoot);
    const direct = (directBefore + directAfter) / 2;
    const ratios = Object.fromEntries(MODES.map((mode) => [mode, Number((seconds[mode] / direct).toFixed(2))])) as Record<Mode, number>;
    const reading: Reading = { round, seconds, direct: [directBefore, directAfter], ratios };
    console.log(JSON.stringify(reading));
    rounds.push(reading);
  }
} finally {
  await upstream.stop();
  await rm(work, { recursive: true, force: true });
}
const medians = Object.fromEntries(MODES.map((mode) => [mode, Number(median(rounds.map((r) => r.ratios[mode])).toFixed(3))]));
console.log(JSON.stringify({ medianRatios: medians }));
console.log(`wrote ${await writeBenchResults({ rounds, medianRatios: medians }, 'cold-split')}`);
