import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { queues } from '../../libs/queue/index.js';
import { freePort } from '../../test/support/orchard.js';
import { createTestDatabase } from '../../test/support/postgres.js';
import { childPids } from '../../test/support/processes.js';
import { scrape, valueOf } from '../../test/support/prometheus.js';

export type Service = 'gateway' | 'fetcher' | 'extractor';
const ROOT = path.resolve(import.meta.dirname, '..', '..');

/**
 * BENCH_CPU_PROF_DIR: each service (every gateway process too) writes a V8 CPU profile into
 * `<dir>/<service>/` when it exits; the diagnostics read them (bench/probe-cold-cpu.ts).
 */
function cpuProfileArgs(service: Service): string[] {
  const dir = process.env.BENCH_CPU_PROF_DIR;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(dir, service)}`] : [];
}

/** Orchard's compiled services (`dist/`), run as in production. */
export class OrchardUnderTest {
  readonly children = new Map<Service, ChildProcess>();
  constructor(
    readonly env: Record<string, string>,
    readonly ports: Record<Service, number>,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.ports.gateway}`;
  }

  pid(service: Service): number {
    return this.children.get(service)!.pid!;
  }

  /** Requests the gateway has answered on PyPI routes (pages, files, metadata files), by its own `orchard_http_requests_total`. */
  async pypiRequests(): Promise<number> {
    return valueOf(await scrape(this.url), 'orchard_http_requests_total', { protocol: 'pypi' });
  }

  /** How many processes serve the gateway's port (ORCHARD_GATEWAY_PROCESSES: a primary's children, or the one process). */
  async gatewayProcesses(): Promise<number> {
    return Math.max(1, (await childPids(this.pid('gateway'))).length);
  }

  async start(services: Service[] = ['gateway', 'fetcher', 'extractor']): Promise<void> {
    for (const service of services) {
      const env: NodeJS.ProcessEnv = { ...process.env, ORCHARD_LOG_LEVEL: 'warn', ...this.env };
      const child = spawn(process.execPath, [...cpuProfileArgs(service), path.join(ROOT, 'dist', 'services', service, 'main.js')], { env, stdio: ['ignore', 'ignore', 'inherit'] });
      this.children.set(service, child);
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`${service} exited with ${child.exitCode}`);
        try {
          if ((await fetch(`http://127.0.0.1:${this.ports[service]}/health`)).ok) break;
        } catch {
          // not yet listening
        }
        if (Date.now() > deadline) throw new Error(`${service} did not start`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /**
   * Waits until no job of any queue is waiting, delayed or running (the storage queue's next scheduled
   * run aside): the cache is as warm
   * as it gets (metadata extracted, pages re-rendered with it on their next read).
   */
  async waitForIdleQueues(timeoutMs = 120_000): Promise<void> {
    const connection = new Redis(this.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
    const all = Object.values(queues).map((q) => new Queue(q.name, { connection, prefix: this.env.ORCHARD_QUEUE_PREFIX }));
    try {
      for (const deadline = Date.now() + timeoutMs; ;) {
        // The storage queue's scheduler always holds its next run, delayed: only its runs in progress count.
        const counts = await Promise.all(
          all.map((q) => (q.name === queues.storage.name ? q.getJobCounts('waiting', 'active', 'prioritized') : q.getJobCounts('waiting', 'active', 'delayed', 'prioritized'))),
        );
        if (counts.every((c) => Object.values(c).every((n) => n === 0))) return;
        if (Date.now() > deadline) throw new Error(`queues still busy: ${JSON.stringify(counts)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await Promise.all(all.map((q) => q.close()));
      connection.disconnect();
    }
  }

  async stop(): Promise<void> {
    await Promise.all(
      [...this.children.values()].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
    this.children.clear();
  }
}

/**
 * All three services (or `services`) on a database, data directory, queue and cache prefix of their
 * own, with `upstream` as their one upstream; `stop()` removes all of it again.
 */
export async function startBenchOrchard(upstream: string, extraEnv: Record<string, string> = {}, services?: Service[]) {
  const db = await createTestDatabase();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'orchard-bench-data-'));
  const ports = { gateway: await freePort(), fetcher: await freePort(), extractor: await freePort() };
  const tag = randomBytes(4).toString('hex');
  const orchard = new OrchardUnderTest(
    {
      DATABASE_URL: db.url,
      ORCHARD_UPSTREAMS: `bench=${upstream}`,
      ORCHARD_DATA_DIR: dataDir,
      ORCHARD_HOST: '127.0.0.1',
      ORCHARD_PORT: String(ports.gateway),
      ORCHARD_FETCHER_PORT: String(ports.fetcher),
      ORCHARD_EXTRACTOR_PORT: String(ports.extractor),
      ORCHARD_QUEUE_PREFIX: `bench-${tag}`,
      ORCHARD_CACHE_PREFIX: `bench-${tag}`,
      // The warm page fast path (the production default, stated: pages may show changes up to 1 s late).
      ORCHARD_PAGE_MEMO_MS: '1000',
      ...extraEnv,
    },
    ports,
  );
  await orchard.start(services);
  return {
    orchard,
    async stop() {
      await orchard.stop();
      await db.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
