import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel } from '../support/dists.js';
import { OrchardProcesses, type ServiceName } from '../support/orchard.js';
import { runPip } from '../support/pip.js';
import { scrape, samplesOf, valueOf, type MetricFamily } from '../support/prometheus.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { logLines, waitFor } from './helpers.js';
import { BOUNDED_LABELS } from '../support/metric-labels.js';

const USER = 'orchard-user';
const PASSWORD = 'Upstream-Pa55word-xyz';

type Families = Map<string, MetricFamily>;

describe('metrics, logs and credentials after an end-to-end pip install', () => {
  const upstream = new FakeUpstream();
  let orchard: OrchardProcesses;
  const sizes = new Map<string, number>();
  let evil: { filename: string; sha256: string };
  const scraped = {} as Record<ServiceName, Families>;
  const requestId = 'ops-test-request-0001';

  const base = (service: ServiceName) => `http://127.0.0.1:${orchard.ports[service]}`;

  beforeAll(async () => {
    upstream.format = 'html';
    upstream.requiredAuthorization = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
    for (const spec of [
      { name: 'ops-app', version: '1.0.0', requiresDist: ['ops-lib>=1'] },
      { name: 'ops-lib', version: '1.0.0', padBytes: 50_000 },
    ]) {
      const wheel = await buildWheel(spec);
      upstream.publish(spec.name, { filename: wheel.filename, bytes: wheel.bytes });
      sizes.set(wheel.filename, wheel.bytes.length);
    }
    const tampered = await buildWheel({ name: 'ops-evil', version: '1.0.0' });
    upstream.publish('ops-evil', { filename: tampered.filename, bytes: tampered.bytes });
    upstream.tampered.add(tampered.filename);
    evil = tampered;
    await upstream.start();
    const withCredentials = new URL(upstream.url);
    withCredentials.username = USER;
    withCredentials.password = PASSWORD;
    orchard = await OrchardProcesses.start({ upstreams: `local=${withCredentials}` });

    // Twice: the first install fills every cache, the second is served from them.
    for (let i = 0; i < 2; i++) {
      const target = await mkdtemp(path.join(os.tmpdir(), 'orchard-ops-pip-'));
      const result = await runPip(['install', '--index-url', `${orchard.gatewayUrl}/simple/`, '--target', target, 'ops-app']);
      expect(result.code, result.stderr).toBe(0);
    }
    const tamperedResponse = await fetch(`${orchard.gatewayUrl}/files/ops-evil/${evil.sha256}/${evil.filename}`);
    expect(tamperedResponse.status).toBe(502);
    const tagged = await fetch(`${orchard.gatewayUrl}/simple/ops-app/`, { headers: { 'x-request-id': requestId } });
    expect(tagged.headers.get('x-request-id')).toBe(requestId);
    // The extractor works after the fetcher: wait until it has done both files.
    await waitFor('both extractions', async () => {
      const families = await scrape(base('extractor'));
      return valueOf(families, 'orchard_jobs_total', { queue: 'extract', outcome: 'completed' }) >= 2 ? true : undefined;
    });
    for (const service of ['gateway', 'fetcher', 'extractor'] as const) scraped[service] = await scrape(base(service));
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    await orchard?.stop();
    await upstream.stop();
  });

  it.each(['gateway', 'fetcher', 'extractor'] as const)('%s: every Orchard family is typed and documented, with bounded labels only', (service) => {
    const families = scraped[service];
    const orchardFamilies = [...families.values()].filter((f) => f.name.startsWith('orchard_'));
    expect(orchardFamilies.length).toBeGreaterThanOrEqual(10);
    const projectNames = ['ops-app', 'ops-lib', 'ops-evil', 'ops_app', 'ops_lib', 'ops_evil'];
    for (const family of orchardFamilies) {
      expect(['counter', 'gauge', 'histogram'], family.name).toContain(family.type);
      expect(family.help.length, family.name).toBeGreaterThan(10);
      for (const sample of family.samples) {
        expect(sample.labels.service, sample.name).toBe(service);
        for (const [label, value] of Object.entries(sample.labels)) {
          expect([...BOUNDED_LABELS, 'le'], `${sample.name} label ${label}`).toContain(label);
          // No URLs, paths, file or project names: short tokens only.
          expect(value, `${sample.name}{${label}}`).toMatch(/^[A-Za-z0-9_+.-]{1,32}$/);
          expect(projectNames, `${sample.name}{${label}}`).not.toContain(value);
        }
      }
    }
    // Default process metrics, on every service.
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(samplesOf(families, name, { service })).not.toHaveLength(0);
    }
  });

  it('gateway: requests and latency by route and status, cache lookups by category, bytes served', () => {
    const g = scraped.gateway;
    // Two installs × two pages, plus the tagged request.
    expect(valueOf(g, 'orchard_http_requests_total', { route: 'simple_project', method: 'GET', status: '200' })).toBeGreaterThanOrEqual(5);
    expect(valueOf(g, 'orchard_http_requests_total', { route: 'file', method: 'GET', status: '200' })).toBeGreaterThanOrEqual(4);
    expect(valueOf(g, 'orchard_http_requests_total', { route: 'file', method: 'GET', status: '502' })).toBe(1);
    // The latency histogram counts exactly the requests the counter counts, per route and class.
    for (const route of ['simple_project', 'file']) {
      const ok = samplesOf(g, 'orchard_http_requests_total', { route })
        .filter((s) => s.labels.status!.startsWith('2'))
        .reduce((n, s) => n + s.value, 0);
      expect(valueOf(g, 'orchard_http_request_duration_seconds_count', { route, status_class: '2xx' }), route).toBe(ok);
      const inf = valueOf(g, 'orchard_http_request_duration_seconds_bucket', { route, status_class: '2xx', le: '+Inf' });
      expect(inf, route).toBe(ok);
    }
    expect(valueOf(g, 'orchard_http_request_duration_seconds_count', { route: 'file', status_class: '5xx' })).toBe(1);

    expect(valueOf(g, 'orchard_cache_lookups_total', { category: 'index', result: 'miss' })).toBeGreaterThanOrEqual(2);
    expect(valueOf(g, 'orchard_cache_lookups_total', { category: 'index', result: 'hit' })).toBeGreaterThanOrEqual(2);
    expect(valueOf(g, 'orchard_cache_lookups_total', { category: 'artifact', result: 'miss' })).toBeGreaterThanOrEqual(2);
    expect(valueOf(g, 'orchard_cache_lookups_total', { category: 'artifact', result: 'hit' })).toBeGreaterThanOrEqual(2);

    expect(valueOf(g, 'orchard_upstream_requests_total', { upstream: 'local', kind: 'page', outcome: 'ok' })).toBeGreaterThanOrEqual(2);
    expect(valueOf(g, 'orchard_upstream_request_duration_seconds_count', { upstream: 'local', kind: 'page' })).toBeGreaterThanOrEqual(2);

    const total = [...sizes.values()].reduce((a, b) => a + b, 0);
    // The second install is served from storage; the first from storage or, past the fetch wait, upstream.
    expect(valueOf(g, 'orchard_bytes_served_total', { source: 'storage' })).toBeGreaterThanOrEqual(total);
    expect(valueOf(g, 'orchard_bytes_served_total')).toBeGreaterThanOrEqual(2 * total);
  });

  it('gateway: queue depth by queue and state, read at scrape time', () => {
    const g = scraped.gateway;
    for (const queue of ['fetch', 'extract', 'refresh']) {
      for (const state of ['waiting', 'active', 'delayed', 'failed']) {
        expect(samplesOf(g, 'orchard_queue_jobs', { queue, state }), `${queue}/${state}`).toHaveLength(1);
      }
    }
    expect(valueOf(g, 'orchard_queue_jobs', { queue: 'fetch', state: 'completed' })).toBe(2);
    expect(valueOf(g, 'orchard_queue_jobs', { queue: 'fetch', state: 'failed' })).toBe(1);
    expect(valueOf(g, 'orchard_queue_jobs', { queue: 'fetch', state: 'waiting' })).toBe(0);
  });

  it('fetcher: jobs and their durations, upstream requests and bytes by upstream, the hash mismatch', () => {
    const f = scraped.fetcher;
    expect(valueOf(f, 'orchard_jobs_total', { queue: 'fetch', outcome: 'completed' })).toBe(2);
    expect(valueOf(f, 'orchard_jobs_total', { queue: 'fetch', outcome: 'failed' })).toBe(1);
    expect(valueOf(f, 'orchard_job_duration_seconds_count', { queue: 'fetch', outcome: 'completed' })).toBe(2);
    expect(valueOf(f, 'orchard_job_duration_seconds_count', { queue: 'fetch', outcome: 'failed' })).toBe(1);
    expect(valueOf(f, 'orchard_bytes_fetched_total', { upstream: 'local' })).toBe([...sizes.values()].reduce((a, b) => a + b, 0));
    expect(valueOf(f, 'orchard_upstream_requests_total', { upstream: 'local', kind: 'file', outcome: 'ok' })).toBe(2);
    expect(valueOf(f, 'orchard_upstream_requests_total', { upstream: 'local', kind: 'file', outcome: 'hash_mismatch' })).toBe(1);
    expect(valueOf(f, 'orchard_upstream_request_duration_seconds_count', { upstream: 'local', kind: 'file' })).toBe(3);
    expect(valueOf(f, 'orchard_hash_mismatches_total', { upstream: 'local' })).toBe(1);
    expect(valueOf(f, 'orchard_cache_lookups_total', { category: 'artifact', result: 'filled' })).toBe(2);
    expect(valueOf(f, 'orchard_queue_jobs', { queue: 'fetch', state: 'completed' })).toBe(2);
    expect(samplesOf(f, 'orchard_queue_jobs', { queue: 'refresh', state: 'waiting' })).toHaveLength(1);
  });

  it("extractor: extract jobs and their durations, and its queue's depth", () => {
    const e = scraped.extractor;
    expect(valueOf(e, 'orchard_jobs_total', { queue: 'extract', outcome: 'completed' })).toBe(2);
    expect(valueOf(e, 'orchard_job_duration_seconds_count', { queue: 'extract', outcome: 'completed' })).toBe(2);
    expect(valueOf(e, 'orchard_job_duration_seconds_sum', { queue: 'extract', outcome: 'completed' })).toBeGreaterThan(0);
    expect(valueOf(e, 'orchard_queue_jobs', { queue: 'extract', state: 'completed' })).toBe(2);
    expect(valueOf(e, 'orchard_queue_jobs', { queue: 'extract', state: 'waiting' })).toBe(0);
  });

  it('logs JSON lines only, one per request with its request id', () => {
    const gateway = logLines(orchard.logs.gateway);
    for (const service of ['fetcher', 'extractor'] as const) expect(logLines(orchard.logs[service]).every((l) => l.service === service)).toBe(true);
    const requests = gateway.filter((l) => l.msg === 'request');
    expect(requests.length).toBeGreaterThanOrEqual(10);
    for (const line of requests) expect(line.requestId, JSON.stringify(line)).toMatch(/^[A-Za-z0-9._-]{1,64}$/);
    const tagged = requests.filter((l) => l.requestId === requestId);
    expect(tagged).toEqual([expect.objectContaining({ path: '/simple/ops-app/', route: 'simple_project', status: 200, method: 'GET' })]);
    expect(new Set(requests.map((l) => l.requestId)).size).toBe(requests.length);
  });

  it('never shows the upstream credentials in logs, metrics or pages', async () => {
    const secrets = [PASSWORD, encodeURIComponent(PASSWORD), Buffer.from(`${USER}:${PASSWORD}`).toString('base64')];
    const page = await (await fetch(`${orchard.gatewayUrl}/simple/ops-app/`)).text();
    const texts: Record<string, string> = { page, ...orchard.logs };
    for (const service of ['gateway', 'fetcher', 'extractor'] as const) texts[`${service} metrics`] = await (await fetch(`${base(service)}/metrics`)).text();
    for (const service of ['gateway', 'fetcher', 'extractor'] as const) texts[`${service} ready`] = await (await fetch(`${base(service)}/ready`)).text();
    for (const [where, text] of Object.entries(texts)) {
      expect(text.length, where).toBeGreaterThan(0);
      for (const secret of secrets) expect(text.includes(secret), `${where} contains a credential`).toBe(false);
    }
    // The upstream really required them: Orchard sent them on every request.
    expect(upstream.requests.every((r) => r.authorization === upstream.requiredAuthorization)).toBe(true);
  });
});
