/**
 * `npx tsx bench/profile-page.ts [seconds] [connections]`: the warm page hit path under wrk, with
 * the gateway (compiled `dist/`, run `npm run build` first) under `node --cpu-prof`. Prints
 * Orchard's and nginx's req/s and p99 side by side and writes the profile to bench/results/profiles/.
 * `PROFILE=0` runs without the profiler (for clean figures); `PROFILE_URL=file` profiles the cached
 * 200 MB file instead of the page, `PROFILE_URL=small` a cached 4 KB wheel.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase } from '../test/support/postgres.js';
import { freePort } from '../test/support/orchard.js';
import { drain } from './lib/clients.js';
import { ensureCorpus } from './lib/corpus.js';
import { StaticServer } from './lib/nginx.js';
import { runWrk } from './lib/wrk.js';

const HERE = import.meta.dirname;
const seconds = Number(process.argv[2] ?? 5);
const connections = Number(process.argv[3] ?? 32);
const profile = process.env.PROFILE !== '0';
const target = process.env.PROFILE_URL ?? 'page';

const corpus = await ensureCorpus(path.join(HERE, '.corpus'));
const work = await mkdtemp(path.join(os.tmpdir(), 'orchard-profile-'));
const upstream = new StaticServer(corpus.root, await freePort(), path.join(work, 'nginx'));
await upstream.start();
const db = await createTestDatabase();
const port = await freePort();
const tag = Math.random().toString(16).slice(2, 10);
const profDir = path.join(HERE, 'results', 'profiles');
await mkdir(profDir, { recursive: true });
const env = {
  ...process.env,
  ORCHARD_LOG_LEVEL: process.env.ORCHARD_LOG_LEVEL ?? 'warn',
  DATABASE_URL: db.url,
  ORCHARD_UPSTREAMS: `bench=${upstream.url}/simple/`,
  ORCHARD_DATA_DIR: path.join(work, 'data'),
  ORCHARD_HOST: '127.0.0.1',
  ORCHARD_PORT: String(port),
  ORCHARD_QUEUE_PREFIX: `prof-${tag}`,
  ORCHARD_CACHE_PREFIX: `prof-${tag}`,
  ORCHARD_FETCH_WAIT_MS: '0',
  ORCHARD_PAGE_MEMO_MS: process.env.ORCHARD_PAGE_MEMO_MS ?? '1000',
  // The one process profiled (with several, each would write a profile of its share).
  ORCHARD_GATEWAY_PROCESSES: '1',
};
const args = [...(profile ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []), path.join(HERE, '..', 'dist', 'services', 'gateway', 'main.js')];
const gateway = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
const url = `http://127.0.0.1:${port}`;
try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      if (i > 600) throw new Error('gateway did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  let orchardUrl = `${url}/simple/${corpus.hotProject}/`;
  let limitUrl = `${upstream.url}/simple/${corpus.hotProject}/index.html`;
  const headers = { accept: 'text/html' };
  await drain(orchardUrl);
  if (target === 'file') {
    await drain(`${url}/simple/${corpus.big.project}/`);
    orchardUrl = `${url}/files/${corpus.big.project}/${corpus.big.sha256}/${corpus.big.filename}`;
    limitUrl = `${upstream.url}/files/${corpus.big.filename}`;
    // Streams from upstream once (no fetcher runs here), then stores nothing: copy it in place.
    const { blobKey } = await import('../libs/storage/index.js');
    const { copyFile } = await import('node:fs/promises');
    const dest = path.join(work, 'data', blobKey(corpus.big.sha256));
    await mkdir(path.dirname(dest), { recursive: true });
    await copyFile(path.join(corpus.root, 'files', corpus.big.filename), dest);
  }
  if (target === 'small') {
    const project = corpus.smallProjects[0]!;
    const pageUrl = `${url}/simple/${project}/`;
    const page = (await (await fetch(pageUrl, { headers: { accept: 'application/vnd.pypi.simple.v1+json' } })).json()) as {
      files: Array<{ url: string; filename: string; hashes: { sha256: string } }>;
    };
    const file = page.files[0]!;
    orchardUrl = new URL(file.url, pageUrl).toString();
    limitUrl = `${upstream.url}/files/${file.filename}`;
    const { blobKey } = await import('../libs/storage/index.js');
    const { copyFile } = await import('node:fs/promises');
    const dest = path.join(work, 'data', blobKey(file.hashes.sha256));
    await mkdir(path.dirname(dest), { recursive: true });
    await copyFile(path.join(corpus.root, 'files', file.filename), dest);
  }
  const o = await runWrk(orchardUrl, { connections, seconds, headers });
  const n = await runWrk(limitUrl, { connections, seconds });
  const line = (name: string, r: typeof o) =>
    `${name}: ${r.requestsPerSecond.toFixed(0)} req/s, ${(r.bytesPerSecond / 2 ** 20).toFixed(0)} MiB/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, errors ${r.errors}`;
  console.log(line('orchard', o));
  console.log(line('nginx  ', n));
  console.log(`ratio ${(o.requestsPerSecond / n.requestsPerSecond).toFixed(3)}`);
  await writeFile(path.join(work, 'done'), '');
} finally {
  await new Promise<void>((resolve) => {
    gateway.once('exit', () => resolve());
    gateway.kill('SIGTERM');
  });
  await upstream.stop();
  await db.drop();
  await rm(work, { recursive: true, force: true });
}
