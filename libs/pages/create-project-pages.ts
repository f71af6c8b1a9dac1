import type { Redis } from 'ioredis';
import { CacheKeys, FileMap, PageCache } from '../cache/index.js';
import type { Settings, UpstreamConfig } from '../config/index.js';
import type { UpstreamClient } from '../http/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import type { ProtocolAdapter } from '../protocol/types.js';
import { ProjectPages } from './project-pages.js';
import { UpstreamPageFetcher } from './upstream-page-fetcher.js';

/** Wires the page pipeline the gateway and the fetcher share. */
export function createProjectPages(options: {
  settings: Settings;
  protocol: ProtocolAdapter;
  redis: Redis;
  http: UpstreamClient;
  upstreams: () => Promise<UpstreamConfig[]>;
  onStale?: (project: string) => Promise<unknown>;
  metrics: Metrics;
  logger: Logger;
}): ProjectPages {
  const keys = new CacheKeys(options.settings.cachePrefix);
  return new ProjectPages({
    protocol: options.protocol,
    pages: new PageCache(options.redis, keys),
    fileMap: new FileMap(options.redis, keys),
    redis: options.redis,
    keys,
    fetcher: new UpstreamPageFetcher(options.http, options.protocol, options.metrics),
    upstreams: options.upstreams,
    freshness: options.settings,
    onStale: options.onStale,
    metrics: options.metrics,
    logger: options.logger,
  });
}
