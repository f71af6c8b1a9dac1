/**
 * Where a cold `npm install` through Orchard spends its time, from npm's side: the tree of the npm
 * bench installed straight from nginx and through a fresh Orchard (after one unrelated install), each
 * with npm's `--loglevel=http` timings; prints, per kind of request (packument, tarball), how many,
 * their p50/p90/max and the sum. `npx tsx bench/probe-npm-cold.ts` (after `npm run build`).
 */
import { chmod, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../test/support/orchard.js';
import { npmInstall } from './lib/npm-client.js';
import { NpmStaticRegistry } from './lib/npm-nginx.js';
import { buildNpmRegistry, NPM_TREE_ROOTS } from './lib/npm-tree.js';
import { startBenchOrchard } from './lib/orchard.js';

const WARM_UP_ROOT = 'picomatch';

/** Per request kind: count, p50, p90, max and sum of npm's fetch times (ms). */
function summarise(log: string): Record<string, { n: number; p50: number; p90: number; max: number; sum: number }> {
  const byKind: Record<string, number[]> = { packument: [], tarball: [] };
  for (const match of log.matchAll(/http fetch GET \d+ (\S+) (\d+)ms/g)) byKind[match[1]!.endsWith('.tgz') ? 'tarball' : 'packument']!.push(Number(match[2]));
  return Object.fromEntries(
    Object.entries(byKind).map(([kind, ms]) => {
      const sorted = ms.sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
      return [kind, { n: sorted.length, p50: at(0.5), p90: at(0.9), max: sorted.at(-1) ?? 0, sum: sorted.reduce((a, b) => a + b, 0) }];
    }),
  );
}

const work = await mkdtemp(path.join(os.tmpdir(), 'orchard-probe-npm-'));
await chmod(work, 0o755);
const port = await freePort();
const tree = await buildNpmRegistry(path.join(work, 'registry'), `http://127.0.0.1:${port}`, [...NPM_TREE_ROOTS, WARM_UP_ROOT], { name: 'express', versions: 100 });
const registry = new NpmStaticRegistry(tree.root, port, path.join(work, 'nginx'));
await registry.start();
const deps = Object.fromEntries(NPM_TREE_ROOTS.map((r) => [r, tree.dependencies[r]!]));
const bench = await startBenchOrchard(`${registry.url}/simple/`, { ORCHARD_NPM_UPSTREAMS: `local=${registry.url}/`, ...JSON.parse(process.env.PROBE_ENV ?? '{}') }, []);
bench.orchard.env.ORCHARD_PUBLIC_URL = bench.orchard.url;
try {
  await bench.orchard.start();
  await npmInstall(`${bench.orchard.url}/npm/`, { [WARM_UP_ROOT]: tree.dependencies[WARM_UP_ROOT]! });
  await bench.orchard.waitForIdleQueues();
  const direct = await npmInstall(`${registry.url}/`, deps, { logHttp: true });
  const cold = await npmInstall(`${bench.orchard.url}/npm/`, deps, { logHttp: true });
  console.log(`direct: ${direct.seconds.toFixed(2)} s`, JSON.stringify(summarise(direct.httpLog!)));
  console.log(`orchard cold: ${cold.seconds.toFixed(2)} s`, JSON.stringify(summarise(cold.httpLog!)));
} finally {
  await bench.stop();
  await registry.stop();
}
