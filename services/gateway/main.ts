import cluster from 'node:cluster';
import http from 'node:http';
import { Agent } from 'undici';
import { ArtifactCache, CacheKeys, createCacheRedis, redisReadinessChecks, waitForRedis } from '../../libs/cache/index.js';
import { loadSettingsOrExit, type Settings } from '../../libs/config/index.js';
import { UpstreamClient } from '../../libs/http/index.js';
import { createLogger } from '../../libs/log/index.js';
import { clusterScrape } from '../../libs/metrics/index.js';
import { closeCoreClientsOnShutdown, closeServer, databaseChecks, listen, openCoreClients } from '../../libs/lifecycle/index.js';
import { PageFillQueue } from '../../libs/pages/index.js';
import { registeredProtocols } from '../../libs/protocol/index.js';
import { Producers, createProducerRedis, createQueueEvents, createWorkerRedis, jobMetricsHooks, readQueueDepthAtScrape } from '../../libs/queue/index.js';
import { StorageRepository } from '../../libs/db/index.js';
import { ServeTracker } from '../../libs/quota/index.js';
import { createRequestListener } from './app.js';
import { closeStalledReaders } from './stalled-readers.js';
import { runGatewayProcesses } from './processes.js';
import { adminRoutes } from './routes/admin-routes.js';
import { apiRoutes } from './routes/api-routes.js';
import { createProtocolRoutes } from './protocol-routes.js';

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
  const upstreamHttp = new UpstreamClient(settings.upstreamHttp);
  const storage = new StorageRepository(prisma);
  const lifecycle = settings.storageLifecycle;
  // Serves are tracked only for a quota's eviction; each flush also renews files still streaming.
  const served = lifecycle.quotaBytes === undefined ? undefined : new ServeTracker({ storage, flushMs: Math.min(5_000, Math.floor(lifecycle.evictionGraceMs / 6)), logger });
  served?.start();
  // Reads downloads in progress from the fetchers' ops ports (see InflightDownloads).
  const fetcherAgent = new Agent({ connections: 256, keepAliveTimeout: 10_000 });
  const shared = { settings, prisma, store, redis, http: upstreamHttp, producers, fetchEvents, pageFills, fetcherAgent, storage, served, metrics, logger };
  // Every protocol of this deployment, the primary first (its routes sit at the root: /simple/, /files/).
  const registered = registeredProtocols();
  const protocols = settings.protocols.map((mounted, i) => createProtocolRoutes(shared, registered.get(mounted.name), mounted, i === 0));
  const primary = protocols[0]!;
  readQueueDepthAtScrape(metrics, [producers.fetch, producers.extract, producers.refresh, producers.pages, producers.storage], logger);
  const admin = adminRoutes({
    token: settings.adminToken,
    protocols,
    artifacts: new ArtifactCache(redis, new CacheKeys(settings.cachePrefix)),
    storage,
    storageQuota: lifecycle,
    protocol: primary.protocol,
    views: primary.views,
    logger,
  });
  // The primary protocol's JSON API at /api/v1/, every other one's at /api/v1/<protocol>/.
  const api = protocols.map((p) => apiRoutes({ base: p === primary ? '/api/v1' : `/api/v1/${p.protocol.name}`, protocol: p.protocol, releases: p.releases, logger }));
  // With an internal port, /metrics and the admin API move there and the public port never serves them.
  const internalPort = settings.gatewayInternalPort;
  const ops = {
    registry: metrics.registry,
    checks: {
      ...redisReadinessChecks(producerRedis, redis, settings),
      ...databaseChecks(core),
      storage: () => store.check(),
    },
    details: () => ({ dbPoolSize: settings.dbPoolSize, upstreamPool: upstreamHttp.describe(), protocols: servedProtocols(settings) }),
    // One of several gateway processes serves the scrape of all of them (see runGatewayProcesses).
    ...(cluster.isWorker ? { scrape: clusterScrape(metrics.registry) } : {}),
    logger,
  };
  const readPaths = protocols.map((p) => p.readPath);
  const listener = createRequestListener({
    logger,
    metrics,
    readPaths,
    ops,
    serveMetrics: internalPort === undefined,
    routers: internalPort === undefined ? [admin, ...api] : api,
  });
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
    internal = http.createServer(createRequestListener({ logger, metrics, readPaths: [], ops, serveMetrics: true, routers: [admin] }));
    await listen(internal, internalPort, settings.host);
  }
  logger.info({ port: settings.gatewayPort, internalPort, publicUrl: settings.publicUrl, protocols: servedProtocols(settings) }, 'gateway listening');

  shutdown.add({ name: 'http server', run: () => (stopSweeper(), closeServer(server)) });
  if (internal) shutdown.add({ name: 'internal http server', run: () => closeServer(internal) });
  shutdown.add({ name: 'page fill worker', run: () => pageWorker.close() });
  if (served) shutdown.add({ name: 'served files', run: () => served.close() });
  shutdown.add({ name: 'queue events', run: () => Promise.all([fetchEvents.close(), pageEvents.close()]) });
  shutdown.add({ name: 'producers', run: () => producers.close() });
  shutdown.add({ name: 'upstream pools', run: () => upstreamHttp.close() });
  shutdown.add({ name: 'fetcher connections', run: () => fetcherAgent.close() });
  shutdown.add({ name: 'protocols', run: async () => protocols.forEach((p) => p.close()) });
  shutdown.add({
    name: 'redis',
    run: async () => {
      redis.disconnect();
      producerRedis.disconnect();
      eventsRedis.disconnect();
    },
  });
  closeCoreClientsOnShutdown(core);
  return { server, shutdown, logger };
}

/** Each protocol served, where, and its configured upstreams' names (for `/ready` and the start log). */
function servedProtocols(settings: Settings): Record<string, { prefix: string; upstreams: string[] }> {
  return Object.fromEntries(settings.protocols.map((p) => [p.name, { prefix: `${p.prefix}/`, upstreams: p.upstreams.map((u) => u.name) }]));
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
