/**
 * Diagnostic: per-request latency of cold page and file misses through Orchard, against nginx, and
 * the first `PROBE_FIRST` (3) of them after the services start on their own.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../test/support/orchard.js';
import { drain } from './lib/clients.js';
import { ensureCorpus } from './lib/corpus.js';
import { StaticServer } from './lib/nginx.js';
import { startBenchOrchard } from './lib/orchard.js';
import { median } from './lib/stats.js';

const corpus = await ensureCorpus(path.join(import.meta.dirname, '.corpus'));
const work = await mkdtemp(path.join(os.tmpdir(), 'orchard-probe-'));
const upstream = new StaticServer(corpus.root, await freePort(), path.join(work, 'nginx'));
await upstream.start();
const { orchard: o, stop } = await startBenchOrchard(`${upstream.url}/simple/`, { ORCHARD_LOG_LEVEL: process.env.PROBE_LOG ?? 'warn' });
const ms = async (f: () => Promise<unknown>) => {
  const t = performance.now();
  await f();
  return performance.now() - t;
};
const rows: Record<string, number[]> = { coldPage: [], coldFile: [], warmPage: [], warmFile: [], nginxPage: [], nginxFile: [] };
const json = { accept: 'application/vnd.pypi.simple.v1+json' };
for (const p of corpus.smallProjects.slice(0, 30)) {
  const pageUrl = `${o.url}/simple/${p}/`;
  let fileUrl = '';
  rows.coldPage!.push(
    await ms(async () => {
      const page = (await (await fetch(pageUrl, { headers: json })).json()) as { files: Array<{ url: string }> };
      fileUrl = new URL(page.files[0]!.url, pageUrl).toString();
    }),
  );
  rows.coldFile!.push(await ms(() => drain(fileUrl)));
  rows.warmPage!.push(await ms(async () => (await fetch(pageUrl, { headers: json })).arrayBuffer()));
  rows.warmFile!.push(await ms(() => drain(fileUrl)));
  rows.nginxPage!.push(await ms(async () => (await fetch(`${upstream.url}/simple/${p}/`)).arrayBuffer()));
  rows.nginxFile!.push(await ms(() => drain(`${upstream.url}/files/${p.replace(/-/g, '_')}-1.0.0-py3-none-any.whl`)));
}
// The first rows are the first requests after the services started: lazy initialisation shows there.
const first = Number(process.env.PROBE_FIRST ?? 3);
for (let i = 0; i < first; i++) console.log(`request ${i + 1} after start: page ${rows.coldPage![i]!.toFixed(1)} ms, file ${rows.coldFile![i]!.toFixed(1)} ms`);
for (const [k, v] of Object.entries(rows)) console.log(k.padEnd(10), 'median', median(v).toFixed(2), 'max', Math.max(...v).toFixed(2));
await stop();
await upstream.stop();
process.exit(0);
