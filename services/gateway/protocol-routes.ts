import type { QueueEvents } from 'bullmq';
import type { Agent } from 'undici';
import { ArtifactCache, CacheKeys, InvalidationSubscriber, RootIndexCache, invalidationChannel } from '../../libs/cache/index.js';
import type { ProtocolSettings, Settings } from '../../libs/config/index.js';
import { ArtifactRepository, ReleaseRepository, StorageRepository, ViewRepository, type PrismaClient } from '../../libs/db/index.js';
import type { UpstreamClient } from '../../libs/http/index.js';
import type { Logger } from '../../libs/log/index.js';
import type { Metrics } from '../../libs/metrics/index.js';
import { RootPages, createProjectPages, type PageFillQueue, type ProjectPages } from '../../libs/pages/index.js';
import type { ProtocolAdapter } from '../../libs/protocol/index.js';
import type { Producers } from '../../libs/queue/index.js';
import type { ServeTracker } from '../../libs/quota/index.js';
import type { RedisClient } from '../../libs/redis/index.js';
import type { BlobStore } from '../../libs/storage/index.js';
import { UpstreamRepository } from '../../libs/db/index.js';
import { UpstreamRegistry } from '../../libs/upstreams/index.js';
import { ViewPages, ViewRegistry, createViewMetrics } from '../../libs/views/index.js';
import { FileAnswers } from './file-answers.js';
import { FileLocator } from './file-locator.js';
import { announceInvalidation, forgetInvalidated } from './memo-invalidation.js';
import { MetadataFiles } from './metadata-files.js';
import { PageAnswers } from './page-answers.js';
import { ReadMemo } from './read-memo.js';
import { ReadPath } from './read-path.js';

/** What every protocol's routes share in one gateway process. */
export interface SharedGatewayParts {
  settings: Settings;
  prisma: PrismaClient;
  store: BlobStore;
  redis: RedisClient;
  http: UpstreamClient;
  producers: Producers;
  fetchEvents: QueueEvents;
  pageFills: PageFillQueue;
  /** Reads downloads in progress from the fetchers' ops ports. */
  fetcherAgent: Agent;
  storage: StorageRepository;
  served?: ServeTracker;
  metrics: Metrics;
  logger: Logger;
}

/** One protocol as the gateway serves it. */
export interface ProtocolRoutes {
  protocol: ProtocolAdapter;
  prefix: string;
  registry: UpstreamRegistry;
  pages: ProjectPages;
  readPath: ReadPath;
  releases: ReleaseRepository;
  /** Forgets invalidated pages in every gateway process (see announceInvalidation). */
  forgetPages: (project?: string) => Promise<void>;
  /** Policy views (the primary protocol's only). */
  views?: ViewRegistry;
  close(): void;
}

/**
 * Builds one protocol's read path and everything behind it: its upstream registry, page pipeline,
 * file locator, memo and invalidation subscription, and (PEP 503 protocols) the root list and
 * policy views. Each protocol keeps its own memo, so a name means one thing per memo.
 */
export function createProtocolRoutes(shared: SharedGatewayParts, protocol: ProtocolAdapter, mounted: ProtocolSettings, primary: boolean): ProtocolRoutes {
  const { settings, prisma, store, redis, http, producers, metrics, logger } = shared;
  const keys = new CacheKeys(settings.cachePrefix);
  const artifacts = new ArtifactCache(redis, keys);
  // The protocol's configured upstreams merged with those stored in PostgreSQL (admin API), cached in Redis.
  const registry = new UpstreamRegistry({ protocol: protocol.name, configured: mounted.upstreams, repository: new UpstreamRepository(prisma), redis, keys, logger });
  registry.start();
  const upstreams = () => registry.list();
  const pages = createProjectPages({
    settings,
    protocol,
    prefix: mounted.prefix,
    redis,
    http,
    upstreams,
    generation: () => registry.generation(),
    onStale: (project) => producers.addRefresh({ protocol: protocol.name, project }),
    fills: shared.pageFills,
    metrics,
    logger,
  });
  const files = new FileLocator({
    protocol: protocol.name,
    records: new ArtifactRepository(prisma),
    evictions: shared.storage,
    pages,
    artifacts,
    store,
    producers,
    fetchEvents: shared.fetchEvents,
    fetchWaitMs: settings.fetchWaitMs,
    metrics,
    logger,
  });
  const memo = new ReadMemo({ maxBytes: settings.memoBytes, pageTtlMs: settings.pageMemoMs });
  // Every gateway replica forgets invalidated pages as soon as any one announces it.
  const channel = invalidationChannel(settings.cachePrefix);
  const forget = forgetInvalidated(memo);
  const invalidations = new InvalidationSubscriber(settings.cacheRedisUrl, channel, protocol.name, forget, logger);
  const forgetPages = announceInvalidation({ redis, channel, protocol: protocol.name, forget, logger });
  const root = protocol.hasRootIndex
    ? new RootPages({
        protocol,
        cache: new RootIndexCache(redis, keys, protocol.name),
        fills: shared.pageFills,
        http,
        upstreams,
        ttlSeconds: settings.rootIndexTtlSeconds,
        staleTtlSeconds: settings.indexStaleTtlSeconds,
        metrics,
        logger,
      })
    : undefined;
  const views = primary
    ? new ViewRegistry({ protocol, configured: settings.views, repository: new ViewRepository(prisma), redis, keys, refreshMs: settings.viewRefreshMs, logger })
    : undefined;
  views?.start();
  const viewPages = views ? new ViewPages({ protocol, pages, root, metrics: createViewMetrics(metrics.registry), memoMs: settings.pageMemoMs, logger }) : undefined;
  const readPath = new ReadPath({
    protocol,
    prefix: mounted.prefix,
    logger,
    ...(views && viewPages ? { views: { registry: views, pages: viewPages } } : {}),
    pages: new PageAnswers({ protocol, pages, indexTtlSeconds: settings.indexTtlSeconds, memo, rootTtlSeconds: settings.rootIndexTtlSeconds, root, views: viewPages }),
    files: new FileAnswers({
      files,
      metadata: new MetadataFiles({ protocol, artifacts, store, files, http, upstreams, metrics, logger, memo }),
      store,
      http,
      upstreams,
      metrics,
      maxFileBytes: settings.maxFileBytes,
      downloadMode: settings.downloadMode,
      memo,
      served: shared.served,
      inflight: { files, store, dispatcher: shared.fetcherAgent, metrics, logger, maxFileBytes: settings.maxFileBytes, resumeWaitMs: Math.max(settings.fetchWaitMs, 30_000) },
    }),
  });
  return {
    protocol,
    prefix: mounted.prefix,
    registry,
    pages,
    readPath,
    releases: new ReleaseRepository(prisma, protocol),
    forgetPages,
    views,
    close: () => {
      registry.close();
      views?.close();
      invalidations.close();
    },
  };
}
