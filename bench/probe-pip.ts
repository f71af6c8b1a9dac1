/** Diagnostic: where a warm pip install through Orchard spends its time (per-request latencies). */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../test/support/orchard.js';
import { pipInstall } from './lib/clients.js';
import { ensureCorpus } from './lib/corpus.js';
import { StaticServer } from './lib/nginx.js';
import { startBenchOrchard, type Service } from './lib/orchard.js';

const corpus = await ensureCorpus(path.join(import.meta.dirname, '.corpus'));
const work = await mkdtemp(path.join(os.tmpdir(), 'orchard-probe-'));
const upstream = new StaticServer(corpus.root, await freePort(), path.join(work, 'nginx'));
await upstream.start();
// PROBE_SERVICES=gateway,fetcher leaves the extractor out (how much does extraction cost a cold install?).
const services = process.env.PROBE_SERVICES ? (process.env.PROBE_SERVICES.split(',') as Service[]) : undefined;
const { orchard: o, stop } = await startBenchOrchard(`${upstream.url}/simple/`, { ORCHARD_LOG_LEVEL: process.env.PROBE_LOG ?? 'warn' }, services);
if (process.env.PROBE_WARMUP) {
  // Warm processes, cold cache: an unrelated install first (JIT, Prisma's query compiler, pools).
  console.log('warm-up', await pipInstall(`${o.url}/simple/`, corpus.smallProjects.at(-1)!));
  await new Promise((r) => setTimeout(r, 2000));
}
console.log('cold', await pipInstall(`${o.url}/simple/`, corpus.treeRoot));
await new Promise((r) => setTimeout(r, 2000));
for (let i = 0; i < 3; i++) {
  console.log('warm orchard', await pipInstall(`${o.url}/simple/`, corpus.treeRoot));
  console.log('nginx', await pipInstall(`${upstream.url}/simple/`, corpus.treeRoot));
}
const page = `${o.url}/simple/tree-dep-3/`;
for (const accept of ['application/vnd.pypi.simple.v1+json', 'text/html']) {
  const t = performance.now();
  for (let i = 0; i < 50; i++) await (await fetch(page, { headers: { accept } })).arrayBuffer();
  console.log(accept, 'ms/request', ((performance.now() - t) / 50).toFixed(2));
}
const json = (await (await fetch(page, { headers: { accept: 'application/vnd.pypi.simple.v1+json' } })).json()) as { files: Array<{ url: string }> };
const file = new URL(json.files[0]!.url, page).toString();
for (const u of [file, `${file}.metadata`]) {
  const t = performance.now();
  for (let i = 0; i < 50; i++) await (await fetch(u)).arrayBuffer();
  console.log(u.endsWith('.metadata') ? 'metadata' : 'file', 'ms/request', ((performance.now() - t) / 50).toFixed(2));
}
await stop();
await upstream.stop();
process.exit(0);
