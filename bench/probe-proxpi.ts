/** Diagnostic: proxpi (the peer) against the generated upstream, cold then warm pip installs, with nginx direct for scale. */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../test/support/orchard.js';
import { pipInstall } from './lib/clients.js';
import { ensureCorpus } from './lib/corpus.js';
import { StaticServer } from './lib/nginx.js';
import { ProxpiServer } from './lib/proxpi.js';

const corpus = await ensureCorpus(path.join(import.meta.dirname, '.corpus'));
const work = await mkdtemp(path.join(os.tmpdir(), 'orchard-probe-'));
const upstream = new StaticServer(corpus.root, await freePort(), path.join(work, 'nginx'));
await upstream.start();
const proxpi = new ProxpiServer(`${upstream.url}/simple/`);
try {
  await proxpi.start();
  console.log('cold proxpi', await pipInstall(proxpi.url, corpus.treeRoot));
  // nginx logs no requests, so proxpi's file cache is the evidence that pip's downloads went through it.
  const cached = (await readdir(proxpi.cacheDir, { recursive: true })).filter((f) => f.endsWith('.whl'));
  console.log('wheels in proxpi cache', cached.length);
  if (cached.length < corpus.treeSize) throw new Error(`expected ${corpus.treeSize} wheels in ${proxpi.cacheDir}, found ${cached.length}:\n${proxpi.log}`);
  for (let i = 0; i < 2; i++) {
    console.log('warm proxpi', await pipInstall(proxpi.url, corpus.treeRoot));
    console.log('nginx', await pipInstall(`${upstream.url}/simple/`, corpus.treeRoot));
  }
} finally {
  await proxpi.stop();
  await upstream.stop();
  await rm(work, { recursive: true, force: true });
}
process.exit(0);
