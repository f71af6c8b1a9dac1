/**
 * `npx tsx bench/probe-cold-cpu.ts` (after `npm run build`): where the CPU goes during a cold pip
 * install of the 25-package tree. Each round starts fresh services, pays their start-up with one
 * unrelated install (as the bench does), then installs the tree through Orchard and straight from
 * nginx, reading each process's CPU time (/proc) and the commands Redis executed (INFO
 * commandstats, commands inside scripts included) around each install. With BENCH_CPU_PROF_DIR
 * set, the services write V8 CPU profiles there and the probe reports, per service, the CPU time
 * inside the install spent under ioredis' `sendCommand` (a command's write to its socket) and
 * under Prisma. Writes bench/results/bench-<date>-cold-cpu.json. PROBE_ROUNDS: rounds (default 3).
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../test/support/orchard.js';
import { childPids } from '../test/support/processes.js';
import { pipInstall } from './lib/clients.js';
import { cpuMs, cpuMsOf, pidsNamed } from './lib/cpu-time.js';
import { ensureCorpus } from './lib/corpus.js';
import { StaticServer } from './lib/nginx.js';
import { startBenchOrchard, type OrchardUnderTest } from './lib/orchard.js';
import { writeBenchResults } from './lib/results.js';

async function commandCounts(redis: Redis): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const match of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts.set(match[1]!, Number(match[2]));
  return counts;
}

interface InstallReading {
  seconds: number;
  cpuMs: Record<string, number>;
}

/** Installs the tree from `indexUrl`, reading every group's CPU time before and after (pip's from this process's children). */
async function readInstall(indexUrl: string, tree: string, groups: Record<string, () => number[]>): Promise<InstallReading> {
  const read = (): Record<string, number> => ({
    ...Object.fromEntries(Object.entries(groups).map(([name, pids]) => [name, cpuMsOf(pids())])),
    pip: cpuMs('self', true) - cpuMs('self'),
  });
  const before = read();
  const seconds = await pipInstall(indexUrl, tree);
  const after = read();
  return { seconds, cpuMs: Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - before[k]!])) };
}

async function processGroups(o: OrchardUnderTest): Promise<Record<string, () => number[]>> {
  const gateway = [o.pid('gateway'), ...(await childPids(o.pid('gateway')))];
  return {
    gateway: () => gateway,
    fetcher: () => [o.pid('fetcher')],
    extractor: () => [o.pid('extractor')],
    postgres: () => pidsNamed('postgres'),
    redis: () => pidsNamed('redis-server'),
    nginx: () => pidsNamed('nginx'),
  };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

/** Per service: CPU ms sampled inside [from, to] (µs, the monotonic clock V8 profiles use), and how much of it was under the named frames. */
async function profileShares(dir: string, from: number, to: number): Promise<Record<string, Record<string, number>>> {
  const under: Record<string, (url: string, fn: string) => boolean> = {
    redisCommands: (url, fn) => url.includes('ioredis') && fn === 'sendCommand',
    prisma: (url) => url.includes('@prisma/client'),
  };
  const shares: Record<string, Record<string, number>> = {};
  for (const service of await readdir(dir)) {
    const totals: Record<string, number> = { busy: 0, ...Object.fromEntries(Object.keys(under).map((k) => [k, 0])) };
    for (const file of await readdir(path.join(dir, service))) {
      const profile = JSON.parse(await readFile(path.join(dir, service, file), 'utf8')) as { nodes: ProfileNode[]; startTime: number; samples: number[]; timeDeltas: number[] };
      const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
      const parent = new Map<number, number>();
      for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
      let at = profile.startTime;
      for (let i = 0; i < profile.samples.length; i++) {
        at += profile.timeDeltas[i]!;
        const node = nodes.get(profile.samples[i]!)!;
        if (at < from || at > to || node.callFrame.functionName === '(idle)') continue;
        const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
        totals.busy! += ms;
        const stack: ProfileNode[] = [];
        for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) stack.push(nodes.get(id)!);
        for (const [name, matches] of Object.entries(under)) if (stack.some((n) => matches(n.callFrame.url, n.callFrame.functionName))) totals[name]! += ms;
      }
    }
    shares[service] = Object.fromEntries(Object.entries(totals).map(([k, v]) => [k, Math.round(v)]));
  }
  return shares;
}

const corpus = await ensureCorpus(path.join(import.meta.dirname, '.corpus'));
const work = await mkdtemp(path.join(os.tmpdir(), 'orchard-probe-cold-cpu-'));
const upstream = new StaticServer(corpus.root, await freePort(), path.join(work, 'nginx'));
await upstream.start();
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const profileDir = process.env.BENCH_CPU_PROF_DIR;
const rounds = [];
try {
  for (let round = 0; round < Number(process.env.PROBE_ROUNDS ?? 3); round++) {
    if (profileDir) process.env.BENCH_CPU_PROF_DIR = path.join(profileDir, `round-${round}`);
    const { orchard: o, stop } = await startBenchOrchard(`${upstream.url}/simple/`);
    let window = { from: 0, to: 0 };
    let orchard: InstallReading & { redisCommands?: Record<string, number> };
    try {
      await pipInstall(`${o.url}/simple/`, corpus.smallProjects.at(-1)!);
      await o.waitForIdleQueues();
      const groups = await processGroups(o);
      const commandsBefore = await commandCounts(redis);
      const from = Number(process.hrtime.bigint() / 1000n);
      orchard = await readInstall(`${o.url}/simple/`, corpus.treeRoot, groups);
      window = { from, to: Number(process.hrtime.bigint() / 1000n) };
      const commandsAfter = await commandCounts(redis);
      const executed = [...commandsAfter].map(([name, calls]) => [name, calls - (commandsBefore.get(name) ?? 0)] as const).filter(([, n]) => n > 0);
      orchard.redisCommands = Object.fromEntries(executed.sort((a, b) => b[1] - a[1]));
    } finally {
      await stop();
    }
    const direct = await readInstall(`${upstream.url}/simple/`, corpus.treeRoot, { nginx: () => pidsNamed('nginx') });
    const profile = profileDir ? await profileShares(process.env.BENCH_CPU_PROF_DIR!, window.from, window.to) : undefined;
    const reading = { round, orchard, direct, ...(profile ? { profileMs: profile } : {}) };
    console.log(JSON.stringify(reading));
    rounds.push(reading);
  }
} finally {
  redis.disconnect();
  await upstream.stop();
  await rm(work, { recursive: true, force: true });
}
console.log(`wrote ${await writeBenchResults({ rounds }, 'cold-cpu')}`);
