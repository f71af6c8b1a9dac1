import cluster from 'node:cluster';
import http from 'node:http';
import { Agent } from 'undici';
import {
  ArtifactCache,
  CacheKeys,
  InvalidationSubscriber,
  RootIndexCache,
  createCacheRedis,
  invalidationChannel,
  redisReadinessChecks,
  waitForRedis,
} from '../../libs/cache/index.js';
import { loadSettingsOrExit, type Settings } from '../../libs/config/index.js';
import { UpstreamClient } from '../../libs/http/index.js';
import { createLogger } from '../../libs/log/index.js';
import { clusterScrape } from '../../libs/metrics/index.js';
import { closeCoreClientsOnShutdown, closeServer, databaseChecks, listen, openCoreClients } from '../../libs/lifecycle/index.js';
import { PageFillQueue, RootPages, createProjectPages } from '../../libs/pages/index.js';
import { registeredProtocols } from '../../libs/protocol/index.js';
import { Producers, createProducerRedis, createQueueEvents, createWorkerRedis, jobMetricsHooks, readQueueDepthAtScrape } from '../../libs/queue/index.js';
import { ArtifactRepository, ReleaseRepository, StorageRepository, UpstreamRepository, ViewRepository } from '../../libs/db/index.js';
import { ServeTracker } from '../../libs/quota/index.js';
import { UpstreamRegistry } from '../../libs/upstreams/index.js';
import { ViewPages, ViewRegistry, createViewMetrics } from '../../libs/views/index.js';
import { createRequestListener } from './app.js';
import { FileAnswers } from './file-answers.js';
import { FileLocator } from './file-locator.js';
import { MetadataFiles } from './metadata-files.js';
import { closeStalledReaders } from './stalled-readers.js';
import { announceInvalidation, forgetInvalidated } from './memo-invalidation.js';
import { PageAnswers } from './page-answers.js';
import { runGatewayProcesses } from './processes.js';
import { ReadMemo } from './read-memo.js';
import { ReadPath } from './read-path.js';
import { adminRoutes } from './routes/admin-routes.js';
import { apiRoutes } from './routes/api-routes.js';

/** Builds the gateway from settings and starts listening; returns its shutdown. */
export async function startGateway(settings: Settings) {
  const core = await openCoreClients('gateway', settings);
  const { logger, metrics, prisma, store, shutdown } = core;
  // The cache (ORCHARD_CACHE_REDIS_URL) may live apart from the queues (REDIS_URL): docs/cache-model.md.
  const redis = createCacheRedis(settings.cacheRedisUrl, {}, logger);
  if (!(await waitForRedis(redis))) logger.warn('Redis is unreachable; starting degraded (no cache, no queue) until it returns');
  const producerRedis = createProducerRedis(settings.redisUrl);
  const eventsRedis = createWorkerRedis(settings.redisUrl);
  const producers = new Producers(producerRedis, settings.queuePrefix, logger);
  const fetchEvents = createQueueEvents('fetch', eventsRedis, settings.queuePrefix, logger);
  // Page and root-list fills are `pages` jobs any gateway's worker runs (started once both are wired, below).
  const pageEvents = createQueueEvents('pages', eventsRedis, settings.queuePrefix, logger);
  const pageFills = new PageFillQueue({ producers, events: pageEvents, logger });
  const keys = new CacheKeys(settings.cachePrefix);
  const artifacts = new ArtifactCache(redis, keys);
  const upstreamHttp = new UpstreamClient(settings.upstreamHttp);
  // The index routes serve the primary protocol, whose upstreams ORCHARD_UPSTREAMS configures.
  const protocol = registeredProtocols().primary;
  // ORCHARD_UPSTREAMS merged with the upstreams stored in PostgreSQL (admin API), cached in Redis.
  const registry = new UpstreamRegistry({ protocol: protocol.name, configured: settings.upstreams, repository: new UpstreamRepository(prisma), redis, keys, logger });
  registry.start();
  const upstreams = () => registry.list();
  const pages = createProjectPages({
    settings,
    protocol,
    redis,
    http: upstreamHttp,
    upstreams,
    generation: () => registry.generation(),
    onStale: (project) => producers.addRefresh({ protocol: protocol.name, project }),
    fills: pageFills,
    metrics,
    logger,
  });
  const storage = new StorageRepository(prisma);
  const lifecycle = settings.storageLifecycle;
  // Serves are tracked only for a quota's eviction; each flush also renews files still streaming.
  const served = lifecycle.quotaBytes === undefined ? undefined : new ServeTracker({ storage, flushMs: Math.min(5_000, Math.floor(lifecycle.evictionGraceMs / 6)), logger });
  served?.start();
  const files = new FileLocator({
    protocol: protocol.name,
    records: new ArtifactRepository(prisma),
    evictions: storage,
    pages,
    artifacts,
    store,
    producers,
    fetchEvents,
    fetchWaitMs: settings.fetchWaitMs,
    metrics,
    logger,
  });
  // Reads downloads in progress from the fetchers' ops ports (see InflightDownloads).
  const fetcherAgent = new Agent({ connections: 256, keepAliveTimeout: 10_000 });
  const memo = new ReadMemo({ maxBytes: settings.memoBytes, pageTtlMs: settings.pageMemoMs });
  // Every gateway replica forgets invalidated pages as soon as any one announces it.
  const channel = invalidationChannel(settings.cachePrefix);
  const forget = forgetInvalidated(memo);
  const invalidations = new InvalidationSubscriber(settings.cacheRedisUrl, channel, protocol.name, forget, logger);
  const forgetPages = announceInvalidation({ redis, channel, protocol: protocol.name, forget, logger });
  const views = new ViewRegistry({
    protocol,
    configured: settings.views,
    repository: new ViewRepository(prisma),
    redis,
    keys,
    refreshMs: settings.viewRefreshMs,
    logger,
  });
  views.start();
  const rootPages = new RootPages({
    protocol,
    cache: new RootIndexCache(redis, keys, protocol.name),
    fills: pageFills,
    http: upstreamHttp,
    upstreams,
    ttlSeconds: settings.rootIndexTtlSeconds,
    staleTtlSeconds: settings.indexStaleTtlSeconds,
    metrics,
    logger,
  });
  const viewPages = new ViewPages({ protocol, pages, root: rootPages, metrics: createViewMetrics(metrics.registry), memoMs: settings.pageMemoMs, logger });
  const readPath = new ReadPath({
    protocol,
    logger,
    views: { registry: views, pages: viewPages },
    pages: new PageAnswers({
      protocol,
      pages,
      indexTtlSeconds: settings.indexTtlSeconds,
      memo,
      rootTtlSeconds: settings.rootIndexTtlSeconds,
      root: rootPages,
      views: viewPages,
    }),
    files: new FileAnswers({
      files,
      metadata: new MetadataFiles({ protocol, artifacts, store, files, http: upstreamHttp, upstreams, metrics, logger, memo }),
      store,
      http: upstreamHttp,
      upstreams,
      metrics,
      maxFileBytes: settings.maxFileBytes,
      downloadMode: settings.downloadMode,
      memo,
      served,
      inflight: { files, store, dispatcher: fetcherAgent, metrics, logger, maxFileBytes: settings.maxFileBytes, resumeWaitMs: Math.max(settings.fetchWaitMs, 30_000) },
    }),
  });
  readQueueDepthAtScrape(metrics, [producers.fetch, producers.extract, producers.refresh, producers.pages, producers.storage], logger);
  const admin = adminRoutes({ token: settings.adminToken, registry, pages, protocol, artifacts, forgetPages, storage, storageQuota: lifecycle, views, logger });
  const api = apiRoutes({ protocol, releases: new ReleaseRepository(prisma, protocol), logger });
  // With an internal port, /metrics and the admin API move there and the public port never serves them.
  const internalPort = settings.gatewayInternalPort;
  const ops = {
    registry: metrics.registry,
    checks: {
      ...redisReadinessChecks(producerRedis, redis, settings),
      ...databaseChecks(core),
      storage: () => store.check(),
    },
    details: () => ({ dbPoolSize: settings.dbPoolSize, upstreamPool: upstreamHttp.describe() }),
    // One of several gateway processes serves the scrape of all of them (see runGatewayProcesses).
    ...(cluster.isWorker ? { scrape: clusterScrape(metrics.registry) } : {}),
    logger,
  };
  const listener = createRequestListener({ logger, metrics, readPath, ops, serveMetrics: internalPort === undefined, routers: internalPort === undefined ? [admin, api] : [api] });
  // Slow clients are bounded: headers within httpHeadersTimeoutMs (checked every second or so), the
  // whole request within 5 minutes, and a connection where no byte moves either way (a reader that
  // stopped reading) is closed after httpIdleTimeoutMs.
  const pageWorker = pageFills.startWorker({
    connection: eventsRedis,
    prefix: settings.queuePrefix,
    hooks: jobMetricsHooks(metrics, logger),
    stalledIntervalMs: settings.jobStalledMs,
  });
  const server = http.createServer(
    {
      requestTimeout: 300_000,
      headersTimeout: settings.httpHeadersTimeoutMs,
      connectionsCheckingInterval: Math.min(30_000, Math.max(1_000, Math.floor(settings.httpHeadersTimeoutMs / 4))),
      maxHeaderSize: 16 * 1024,
    },
    listener,
  );
  server.keepAliveTimeout = 65_000;
  server.setTimeout(settings.httpIdleTimeoutMs);
  const stopSweeper = closeStalledReaders(server, settings.httpIdleTimeoutMs);
  await listen(server, settings.gatewayPort, settings.host);
  let internal: http.Server | undefined;
  if (internalPort !== undefined) {
    internal = http.createServer(createRequestListener({ logger, metrics, ops, serveMetrics: true, routers: [admin] }));
    await listen(internal, internalPort, settings.host);
  }
  logger.info({ port: settings.gatewayPort, internalPort, upstreams: settings.upstreams.map((u) => u.name) }, 'gateway listening');

  shutdown.add({ name: 'http server', run: () => (stopSweeper(), closeServer(server)) });
  if (internal) shutdown.add({ name: 'internal http server', run: () => closeServer(internal) });
  shutdown.add({ name: 'page fill worker', run: () => pageWorker.close() });
  if (served) shutdown.add({ name: 'served files', run: () => served.close() });
  shutdown.add({ name: 'queue events', run: () => Promise.all([fetchEvents.close(), pageEvents.close()]) });
  shutdown.add({ name: 'producers', run: () => producers.close() });
  shutdown.add({ name: 'upstream pools', run: () => upstreamHttp.close() });
  shutdown.add({ name: 'fetcher connections', run: () => fetcherAgent.close() });
  shutdown.add({ name: 'upstream registry', run: async () => registry.close() });
  shutdown.add({ name: 'view registry', run: async () => views.close() });
  shutdown.add({
    name: 'redis',
    run: async () => {
      invalidations.close();
      redis.disconnect();
      producerRedis.disconnect();
      eventsRedis.disconnect();
    },
  });
  closeCoreClientsOnShutdown(core);
  return { server, shutdown, logger };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const settings = loadSettingsOrExit();
  if (cluster.isPrimary && settings.gatewayProcesses > 1) {
    runGatewayProcesses(settings.gatewayProcesses, settings.shutdownTimeoutMs, createLogger('gateway', settings.logLevel));
  } else {
    const { shutdown } = await startGateway(settings);
    shutdown.installSignalHandlers();
  }
}
