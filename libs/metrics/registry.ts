import { Counter, Histogram, Registry, collectDefaultMetrics, Gauge } from 'prom-client';

export type ServiceName = 'gateway' | 'fetcher' | 'extractor';

/**
 * Every metric Orchard exposes, created on one registry per process. Label values come from small
 * fixed sets (routes, status classes, upstream names, categories): never project names or URLs.
 */
export function createMetrics(service: ServiceName) {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  // How orchard_queue_jobs is read when a scrape renders it (set by readQueueDepthAtScrape).
  let readQueueDepth: (() => Promise<void>) | undefined;
  const seconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
  return {
    registry,
    httpRequests: new Counter({
      name: 'orchard_http_requests_total',
      help: 'HTTP requests served, by route and status code',
      labelNames: ['protocol', 'route', 'method', 'status'] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'orchard_http_request_duration_seconds',
      help: 'HTTP request latency by route, method and status class (2xx, 3xx, 4xx, 5xx)',
      labelNames: ['protocol', 'route', 'method', 'status_class'] as const,
      buckets: seconds,
      registers: [registry],
    }),
    cacheLookups: new Counter({
      name: 'orchard_cache_lookups_total',
      help: 'Cache lookups by category (index, artifact) and result (hit, miss, stale, error; filled when a fetch completes)',
      labelNames: ['category', 'result'] as const,
      registers: [registry],
    }),
    upstreamRequests: new Counter({
      name: 'orchard_upstream_requests_total',
      help: 'Requests to upstream indexes by upstream, kind (page, file, metadata) and outcome',
      labelNames: ['upstream', 'kind', 'outcome'] as const,
      registers: [registry],
    }),
    upstreamDuration: new Histogram({
      name: 'orchard_upstream_request_duration_seconds',
      help: 'Time to upstream response headers by upstream and kind',
      labelNames: ['upstream', 'kind'] as const,
      buckets: seconds,
      registers: [registry],
    }),
    bytesFetched: new Counter({
      name: 'orchard_bytes_fetched_total',
      help: 'Bytes downloaded from upstreams',
      labelNames: ['upstream'] as const,
      registers: [registry],
    }),
    bytesServed: new Counter({
      name: 'orchard_bytes_served_total',
      help: 'File bytes sent to clients, by source (storage, memory: the gateway file memo, fetcher: a download followed as it arrives, upstream: passed through)',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    jobs: new Counter({
      name: 'orchard_jobs_total',
      help: 'Jobs processed by queue and outcome (completed, failed, retried, handed_back at shutdown)',
      labelNames: ['queue', 'outcome'] as const,
      registers: [registry],
    }),
    jobDuration: new Histogram({
      name: 'orchard_job_duration_seconds',
      help: 'Job processing time by queue (fetch: download and verify; extract: read metadata) and outcome',
      labelNames: ['queue', 'outcome'] as const,
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    hashMismatches: new Counter({
      name: 'orchard_hash_mismatches_total',
      help: 'Files refused because their bytes did not match the published sha256',
      labelNames: ['upstream'] as const,
      registers: [registry],
    }),
    queueJobs: new Gauge({
      name: 'orchard_queue_jobs',
      help: 'Jobs in each queue by state (waiting, active, delayed, failed, ...), read from Redis at scrape time',
      labelNames: ['queue', 'state'] as const,
      registers: [registry],
      // Every process of a gateway reads the same counts: aggregated, they are not added up.
      aggregator: 'max',
      async collect() {
        await readQueueDepth?.();
      },
    }),
    /**
     * Sets the read behind `orchard_queue_jobs`, run whenever the registry renders (this process's
     * `/metrics`, or each process of a gateway when its primary aggregates them). It must not throw.
     */
    readQueueDepthWith(read: () => Promise<void>): void {
      readQueueDepth = read;
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
