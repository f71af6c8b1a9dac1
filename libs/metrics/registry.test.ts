import { describe, expect, it } from 'vitest';
import { createMetrics, methodLabel, statusClass } from './index.js';
import { BOUNDED_LABELS } from '../../test/support/metric-labels.js';

describe('createMetrics', () => {
  it('declares every Orchard metric with bounded label names, and the default process metrics', async () => {
    const metrics = createMetrics('fetcher');
    const families = await metrics.registry.getMetricsAsJSON();
    const orchard = families.filter((f) => f.name.startsWith('orchard_'));
    expect(orchard.map((f) => f.name).sort()).toEqual([
      'orchard_bytes_fetched_total',
      'orchard_bytes_served_total',
      'orchard_cache_lookups_total',
      'orchard_hash_mismatches_total',
      'orchard_http_request_duration_seconds',
      'orchard_http_requests_total',
      'orchard_job_duration_seconds',
      'orchard_jobs_total',
      'orchard_queue_jobs',
      'orchard_upstream_request_duration_seconds',
      'orchard_upstream_requests_total',
    ]);
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(families.map((f) => f.name)).toContain(name);
    }
    let checked = 0;
    for (const metric of Object.values(metrics)) {
      if (!('labelNames' in metric)) continue;
      for (const label of (metric as unknown as { labelNames: string[] }).labelNames) {
        expect(BOUNDED_LABELS).toContain(label);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(15);
  });

  it('labels every series with the service, on a registry of its own per call', async () => {
    const a = createMetrics('gateway');
    const b = createMetrics('extractor');
    a.httpRequests.inc({ route: 'file', method: 'GET', status: '200' });
    expect(await a.registry.metrics()).toMatch(/orchard_http_requests_total\{route="file",method="GET",status="200",service="gateway"\} 1/);
    expect(await b.registry.metrics()).not.toMatch(/orchard_http_requests_total\{/);
  });
});

describe('label helpers', () => {
  it('fold status codes into classes and methods into GET, HEAD, OTHER', () => {
    expect([200, 206, 304, 404, 499, 502, 99, 600].map(statusClass)).toEqual(['2xx', '2xx', '3xx', '4xx', '4xx', '5xx', 'other', 'other']);
    expect(['GET', 'HEAD', 'POST', 'get', undefined].map(methodLabel)).toEqual(['GET', 'HEAD', 'OTHER', 'OTHER', 'OTHER']);
  });
});
