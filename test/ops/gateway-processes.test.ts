import { mkdtemp } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { runPip } from '../support/pip.js';
import { childPids } from '../support/processes.js';
import { scrape, scrapeAtLeast, valueOf } from '../support/prometheus.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { logLines, waitFor } from './helpers.js';

/** One GET on a connection of its own (no keep-alive), so the kernel may hand it to either process. */
function getOnNewConnection(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, headers: { connection: 'close' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** ORCHARD_GATEWAY_PROCESSES=2, the default on this 2-core machine: one port, two processes, one set of metrics. */
describe('a gateway of several processes', () => {
  const upstream = new FakeUpstream();
  let orchard: OrchardProcesses;
  let primary: number;
  let startedAt: number;

  beforeAll(async () => {
    upstream.format = 'html';
    for (const spec of [
      { name: 'gp-app', version: '1.0.0', requiresDist: ['gp-lib>=1'] },
      { name: 'gp-lib', version: '1.0.0', padBytes: 20_000 },
    ]) {
      const wheel = await buildWheel(spec);
      upstream.publish(spec.name, { filename: wheel.filename, bytes: wheel.bytes });
    }
    await upstream.start();
    orchard = await OrchardProcesses.start({ upstreams: `local=${upstream.url}`, env: { ORCHARD_GATEWAY_PROCESSES: '2' } });
    primary = orchard.children.get('gateway')!.pid!;
    await waitFor('two gateway processes listening', async () => ((await childPids(primary)).length === 2 ? true : undefined));
    // Both were forked before this moment (the primary's crash-loop guard counts from the fork; a
    // slow start of the services must not make the killed process look like one dying at start).
    startedAt = Date.now();
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    await orchard?.stop();
    await upstream.stop();
  });

  it('installs with pip, every file fetched from upstream once', async () => {
    const target = await mkdtemp(path.join(os.tmpdir(), 'orchard-gp-pip-'));
    const result = await runPip(['install', '--index-url', `${orchard.gatewayUrl}/simple/`, '--target', target, 'gp-app']);
    expect(result.code, result.stderr).toBe(0);
    const files = upstream.fileRequests().map((r) => r.path.split('/').pop());
    expect(files.sort()).toEqual(['gp_app-1.0.0-py3-none-any.whl', 'gp_lib-1.0.0-py3-none-any.whl']);
  });

  it('spreads connections over both processes, and /metrics counts every request once whichever process answers', async () => {
    const before = valueOf(await scrape(orchard.gatewayUrl), 'orchard_http_requests_total', { route: 'simple_project', method: 'GET', status: '200' });
    const pids = new Set<number>();
    let sent = 0;
    // The kernel picks the process for each new connection; both answer within a few dozen.
    while (pids.size < 2 && sent < 400) {
      expect(await getOnNewConnection(`${orchard.gatewayUrl}/simple/gp-app/`)).toBe(200);
      sent++;
      if (sent % 10 === 0) {
        for (const line of logLines(orchard.logs.gateway)) if (line.msg === 'request' && line.path === '/simple/gp-app/') pids.add(line.pid as number);
      }
    }
    expect(pids.size).toBe(2);
    expect([...pids].sort()).toEqual((await childPids(primary)).sort());

    // A request is counted when its response closes on the gateway's side, which the client can see
    // a moment before; once the last is counted, several scrapes (on new connections too) each read
    // the sum over both processes.
    await scrapeAtLeast(orchard.gatewayUrl, 'orchard_http_requests_total', { route: 'simple_project', method: 'GET', status: '200' }, before + sent);
    for (let i = 0; i < 4; i++) {
      const families = await scrape(orchard.gatewayUrl);
      expect(valueOf(families, 'orchard_http_requests_total', { route: 'simple_project', method: 'GET', status: '200' })).toBe(before + sent);
      expect(valueOf(families, 'orchard_http_request_duration_seconds_count', { route: 'simple_project', status_class: '2xx' })).toBeGreaterThanOrEqual(before + sent);
    }

    // Queue depth is read from Redis by each process: aggregated, it is not counted twice.
    const redis = new Redis(orchard.env.REDIS_URL!, { maxRetriesPerRequest: null });
    const fetchQueue = new Queue('fetch', { connection: redis, prefix: orchard.env.ORCHARD_QUEUE_PREFIX! });
    try {
      const completed = await waitFor('both fetch jobs completed', async () => ((await fetchQueue.getJobCounts('completed')).completed === 2 ? 2 : undefined));
      expect(valueOf(await scrape(orchard.gatewayUrl), 'orchard_queue_jobs', { queue: 'fetch', state: 'completed' })).toBe(completed);
    } finally {
      await fetchQueue.close();
      redis.disconnect();
    }
  });

  it('starts another process when one dies, serving from the other meanwhile', async () => {
    // A process that dies within 5 s of its start is not restarted (a crash loop): wait that out.
    await new Promise((r) => setTimeout(r, Math.max(0, startedAt + 6_000 - Date.now())));
    const [victim, survivor] = await childPids(primary);
    process.kill(victim!, 'SIGKILL');
    for (let i = 0; i < 10; i++) expect(await getOnNewConnection(`${orchard.gatewayUrl}/simple/gp-lib/`)).toBe(200);
    const replaced = await waitFor('a new gateway process', async () => {
      const now = await childPids(primary);
      return now.length === 2 && !now.includes(victim!) ? now : undefined;
    });
    expect(replaced).toContain(survivor);
    const newcomer = replaced.find((pid) => pid !== survivor)!;
    expect(logLines(orchard.logs.gateway).some((l) => l.msg === 'gateway process exited; starting another' && l.pid === primary)).toBe(true);
    // The newcomer serves too, and the survivor's counts are still in the sum.
    await waitFor('the new process serving', async () => {
      await getOnNewConnection(`${orchard.gatewayUrl}/simple/gp-lib/`);
      return logLines(orchard.logs.gateway).some((l) => l.msg === 'request' && l.pid === newcomer) ? true : undefined;
    });
  });

  it('stops every process on SIGTERM and exits 0', async () => {
    const workers = await childPids(primary);
    expect(workers).toHaveLength(2);
    expect(await orchard.stopService('gateway', 'SIGTERM')).toBe(0);
    for (const pid of workers) expect(processAlive(pid), `process ${pid}`).toBe(false);
    const lines = logLines(orchard.logs.gateway);
    for (const pid of workers)
      expect(
        lines.some((l) => l.msg === 'shut down cleanly' && l.pid === pid),
        `process ${pid} drained`,
      ).toBe(true);
  });
});
