import type { RedisClient } from '../redis/index.js';
import { ArtifactCache, CacheKeys, FileMap, PageCache } from '../cache/index.js';
import type { Settings, UpstreamConfig } from '../config/index.js';
import type { UpstreamClient } from '../http/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import type { ProtocolAdapter } from '../protocol/types.js';
import { ExtractedMetadata } from './extracted-metadata.js';
import { fileLinksFor } from './file-links.js';
import type { PageFillQueue } from './page-fill-queue.js';
import { ProjectPages } from './project-pages.js';
import { UpstreamPageFetcher } from './upstream-page-fetcher.js';

/** Wires the page pipeline the gateway and the fetcher share. */
export function createProjectPages(options: {
  settings: Settings;
  protocol: ProtocolAdapter;
  /** Where the protocol is served (its prefix); its pages link their files under it. */
  prefix: string;
  redis: RedisClient;
  http: UpstreamClient;
  upstreams: () => Promise<UpstreamConfig[]>;
  /** The upstream configuration generation (UpstreamRegistry.generation). */
  generation?: () => string;
  onStale?: (project: string) => Promise<unknown>;
  /** Shares page fills across processes and replicas (the gateway); without it, within the process only. */
  fills?: PageFillQueue;
  metrics: Metrics;
  logger: Logger;
}): ProjectPages {
  const keys = new CacheKeys(options.settings.cachePrefix);
  const pages = new PageCache(options.redis, keys);
  const artifacts = new ArtifactCache(options.redis, keys);
  const links = fileLinksFor(options.protocol, { publicUrl: options.settings.publicUrl, prefix: options.prefix });
  return new ProjectPages({
    protocol: options.protocol,
    links,
    pages,
    extractedMetadata: new ExtractedMetadata({ protocol: options.protocol, links, artifacts, pages }),
    fileMap: new FileMap(options.redis, keys),
    fetcher: new UpstreamPageFetcher(options.http, options.protocol, options.metrics, {
      maxBytes: options.settings.maxPageBytes,
      maxFiles: options.settings.maxPageFiles,
    }),
    upstreams: options.upstreams,
    generation: options.generation,
    freshness: options.settings,
    onStale: options.onStale,
    fills: options.fills,
    metrics: options.metrics,
    logger: options.logger,
  });
}
