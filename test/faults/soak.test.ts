/**
 * A bounded soak: 256 connections of mixed warm pages (HTML, JSON, compressed, conditional) and
 * warm files (GET, HEAD, ranges) for ORCHARD_SOAK_MS (default 2 minutes), while the fetcher is
 * restarted twice (SIGTERM, then SIGKILL) and cold files keep being asked for. Zero failed
 * requests; the gateway's resident memory stays flat.
 */
import { createHash } from 'node:crypto';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel, type BuiltDist } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { rssBytes, sleep } from './support/helpers.js';

const SOAK_MS = Number(process.env.ORCHARD_SOAK_MS ?? 120_000);
const CONNECTIONS = Number(process.env.ORCHARD_SOAK_CONNECTIONS ?? 256);
const MiB = 1024 * 1024;

interface Target {
  path: string;
  method: 'GET' | 'HEAD';
  headers: Record<string, string>;
  expect: number;
  sha256?: string;
}

describe('soak', () => {
  const upstream = new FakeUpstream();
  let orchard: OrchardProcesses;
  const warm: BuiltDist[] = [];
  const cold: BuiltDist[] = [];
  const projectOf = (d: BuiltDist) => d.filename.split('-')[0]!.replace(/_/g, '-');

  beforeAll(async () => {
    for (let i = 0; i < 8; i++) {
      const wheel = await buildWheel({ name: `warm-${i}`, version: '1.0.0', padBytes: i === 0 ? MiB : 4096 * (i + 1) });
      warm.push(wheel);
      upstream.publish(`warm-${i}`, { filename: wheel.filename, bytes: wheel.bytes });
    }
    for (let i = 0; i < 40; i++) {
      const wheel = await buildWheel({ name: `cold-${i}`, version: '1.0.0' });
      cold.push(wheel);
      upstream.publish(`cold-${i}`, { filename: wheel.filename, bytes: wheel.bytes });
    }
    await upstream.start();
    orchard = await OrchardProcesses.start({
      upstreams: `local=${upstream.url}`,
      services: ['gateway', 'fetcher'],
      env: { ORCHARD_INDEX_TTL: '3600', ORCHARD_FETCH_WAIT_MS: '2000', ORCHARD_LOG_LEVEL: 'warn', ORCHARD_JOB_STALLED_MS: '2000' },
    });
    for (const d of warm) {
      expect((await fetch(`${orchard.gatewayUrl}/simple/${projectOf(d)}/`)).status).toBe(200);
      const res = await fetch(`${orchard.gatewayUrl}/files/${projectOf(d)}/${d.sha256}/${d.filename}`);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    await orchard?.stop();
    await upstream.stop();
  });

  it(`serves ${CONNECTIONS} connections for ${SOAK_MS / 1000} s with zero failures and flat memory while the fetcher restarts`, { timeout: SOAK_MS + 120_000 }, async () => {
    const targets: Target[] = [];
    for (const d of warm) {
      const project = projectOf(d);
      const file = `/files/${project}/${d.sha256}/${d.filename}`;
      targets.push(
        { path: `/simple/${project}/`, method: 'GET', headers: {}, expect: 200 },
        { path: `/simple/${project}/`, method: 'GET', headers: { accept: 'application/vnd.pypi.simple.v1+json', 'accept-encoding': 'gzip' }, expect: 200 },
        { path: `/simple/${project}/`, method: 'GET', headers: { accept: 'application/vnd.pypi.simple.v1+json, text/html;q=0.01', 'accept-encoding': 'br' }, expect: 200 },
        { path: file, method: 'GET', headers: {}, expect: 200, sha256: d.sha256 },
        { path: file, method: 'HEAD', headers: {}, expect: 200 },
        { path: file, method: 'GET', headers: { range: 'bytes=0-1023' }, expect: 206 },
        { path: file, method: 'GET', headers: { 'if-none-match': `"${d.sha256}"` }, expect: 304 },
      );
    }
    const pool = new Pool(orchard.gatewayUrl, { connections: CONNECTIONS, pipelining: 1, keepAliveTimeout: 30_000 });
    const failures: string[] = [];
    let ok = 0;
    let verified = 0;
    const latencies: number[] = [];
    const deadline = Date.now() + SOAK_MS;

    async function one(t: Target): Promise<void> {
      const started = performance.now();
      try {
        const res = await pool.request({ path: t.path, method: t.method, headers: t.headers, headersTimeout: 60_000, bodyTimeout: 60_000 });
        let bytes: Buffer | undefined;
        if (t.sha256) bytes = Buffer.from(await res.body.arrayBuffer());
        else await res.body.dump({ limit: Infinity });
        if (res.statusCode !== t.expect) failures.push(`${t.method} ${t.path} → ${res.statusCode}`);
        else if (bytes && createHash('sha256').update(bytes).digest('hex') !== t.sha256) failures.push(`${t.path}: wrong bytes`);
        else {
          ok++;
          if (bytes) verified++;
        }
      } catch (err) {
        failures.push(`${t.method} ${t.path}: ${(err as Error).message}`);
      }
      if (latencies.length < 200_000) latencies.push(performance.now() - started);
    }

    async function loadLoop(seed: number): Promise<void> {
      for (let i = seed; Date.now() < deadline; i += 7) await one(targets[i % targets.length]!);
    }

    /** Cold files, one at a time: some land while the fetcher is down and are streamed from upstream. */
    async function coldLoop(): Promise<void> {
      for (const d of cold) {
        if (Date.now() > deadline - 5_000) return;
        const project = projectOf(d);
        await one({ path: `/simple/${project}/`, method: 'GET', headers: {}, expect: 200 });
        await one({ path: `/files/${project}/${d.sha256}/${d.filename}`, method: 'GET', headers: {}, expect: 200, sha256: d.sha256 });
        await sleep(SOAK_MS / cold.length / 1.5);
      }
    }

    const rss: Array<{ at: number; bytes: number }> = [];
    async function sampleMemory(): Promise<void> {
      const started = Date.now();
      while (Date.now() < deadline) {
        rss.push({ at: Date.now() - started, bytes: await rssBytes(orchard.children.get('gateway')!.pid!) });
        await sleep(1_000);
      }
    }

    async function restartFetcher(): Promise<void> {
      await sleep(SOAK_MS / 3);
      await orchard.stopService('fetcher', 'SIGTERM');
      await sleep(3_000);
      await orchard.startService('fetcher');
      await sleep(Math.max(0, deadline - Date.now() - SOAK_MS / 3));
      await orchard.stopService('fetcher', 'SIGKILL');
      await sleep(3_000);
      await orchard.startService('fetcher');
    }

    await Promise.all([...Array.from({ length: CONNECTIONS }, (_, i) => loadLoop(i)), coldLoop(), sampleMemory(), restartFetcher()]);
    await pool.close();

    latencies.sort((a, b) => a - b);
    const pct = (p: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    // Warm-up (JIT, pools, buffers) is the first quarter; compare the second quarter with the last.
    const q = Math.floor(rss.length / 4);
    const early = median(rss.slice(q, 2 * q).map((s) => s.bytes));
    const late = median(rss.slice(3 * q).map((s) => s.bytes));
    console.log(
      `soak: ${ok} ok (${verified} files verified), ${failures.length} failed, ${Math.round(ok / (SOAK_MS / 1000))} req/s, ` +
        `p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${pct(1)} ms; gateway RSS ${Math.round(early / MiB)} → ${Math.round(late / MiB)} MiB ` +
        `(max ${Math.round(Math.max(...rss.map((s) => s.bytes)) / MiB)} MiB)`,
    );
    expect(failures.slice(0, 20)).toEqual([]);
    expect(ok).toBeGreaterThan(1_000);
    expect(late).toBeLessThan(early * 1.25 + 24 * MiB);
    expect(orchard.children.get('gateway')?.exitCode).toBeNull();
    expect((await fetch(`${orchard.gatewayUrl}/health`)).status).toBe(200);
  });
});
