/** Diagnostic: the first cold page, file and metadata requests after the services start, against the next ones (lazy initialisation shows as a slow first few). */
import path from 'node:path';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import { freePort } from '../test/support/orchard.js';
import { drain } from './lib/clients.js';
import { ensureCorpus } from './lib/corpus.js';
import { StaticServer } from './lib/nginx.js';
import { startBenchOrchard } from './lib/orchard.js';
const corpus = await ensureCorpus(path.join(import.meta.dirname, '.corpus'));
const work = await mkdtemp(path.join(os.tmpdir(), 'orchard-first-'));
const upstream = new StaticServer(corpus.root, await freePort(), path.join(work, 'nginx'));
await upstream.start();
const { orchard: o, stop } = await startBenchOrchard(`${upstream.url}/simple/`, {});
const json = { accept: 'application/vnd.pypi.simple.v1+json' };
for (const p of corpus.smallProjects.slice(0, 6)) {
  const pageUrl = `${o.url}/simple/${p}/`;
  let t = performance.now();
  const page = (await (await fetch(pageUrl, { headers: json })).json()) as { files: Array<{ url: string }> };
  const pageMs = performance.now() - t;
  const fileUrl = new URL(page.files[0]!.url, pageUrl).toString();
  t = performance.now();
  await drain(fileUrl);
  const fileMs = performance.now() - t;
  t = performance.now();
  await fetch(`${fileUrl}.metadata`).then((r) => r.arrayBuffer());
  console.log(p, 'page', pageMs.toFixed(1), 'file', fileMs.toFixed(1), 'metadata', (performance.now() - t).toFixed(1));
}
await stop();
await upstream.stop();
process.exit(0);
