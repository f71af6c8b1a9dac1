/**
 * `npx tsx bench/probe-streams.ts`: a cached 35 MiB wheel pulled by 1 and 4 wrk streams from one
 * gateway process (run `npm run build` first), first while the process is fresh, then again after
 * four pip installs of the 25-package tree through it, nginx beside each (README, issue 18's
 * second pass: the figure swings between starts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../test/support/orchard.js';
import { drain, pipInstall } from './lib/clients.js';
import { ensureCorpus } from './lib/corpus.js';
import { StaticServer } from './lib/nginx.js';
import { startBenchOrchard } from './lib/orchard.js';
import { runWrk } from './lib/wrk.js';

const corpus = await ensureCorpus(path.join(import.meta.dirname, '.corpus'));
const work = await mkdtemp(path.join(os.tmpdir(), 'orchard-probe-streams-'));
const upstream = new StaticServer(corpus.root, await freePort(), path.join(work, 'nginx'));
await upstream.start();
const bench = await startBenchOrchard(`${upstream.url}/simple/`, { ORCHARD_GATEWAY_PROCESSES: '1' });
const orchard = bench.orchard;
try {
  const file = corpus.medium;
  const url = `${orchard.url}/files/${file.project}/${file.sha256}/${file.filename}`;
  const measure = async (label: string) => {
    for (const streams of [1, 4]) {
      const o = await runWrk(url, { connections: streams, seconds: 3, threads: Math.min(2, streams) });
      const n = await runWrk(`${upstream.url}/files/${file.filename}`, { connections: streams, seconds: 3, threads: Math.min(2, streams) });
      console.log(`${label}, ${streams} stream(s): orchard ${(o.bytesPerSecond / 2 ** 20).toFixed(0)} MiB/s, nginx ${(n.bytesPerSecond / 2 ** 20).toFixed(0)} MiB/s`);
    }
  };
  await drain(`${orchard.url}/simple/${file.project}/`);
  await drain(url);
  await orchard.waitForIdleQueues();
  await measure('fresh process');
  await pipInstall(`${orchard.url}/simple/`, corpus.treeRoot);
  await orchard.waitForIdleQueues();
  for (let i = 0; i < 3; i++) await pipInstall(`${orchard.url}/simple/`, corpus.treeRoot);
  await measure('after four pip installs');
} finally {
  await bench.stop();
  await upstream.stop();
  await rm(work, { recursive: true, force: true });
}
