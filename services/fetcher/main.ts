import type http from 'node:http';
import { ArtifactCache, CacheKeys, createCacheRedis, redisReadinessChecks, waitForRedis } from '../../libs/cache/index.js';
import { loadSettingsOrExit, type Settings } from '../../libs/config/index.js';
import { ArtifactRepository, StorageRepository, UpstreamRepository } from '../../libs/db/index.js';
import { UpstreamClient } from '../../libs/http/index.js';
import {
  JobHandback,
  closeCoreClientsOnShutdown,
  closeServer,
  databaseChecks,
  drainGraceMs,
  drainWorkers,
  openCoreClients,
  runWorker,
  startOpsServer,
} from '../../libs/lifecycle/index.js';
import { PageFillQueue, createProjectPages } from '../../libs/pages/index.js';
import { registeredProtocols } from '../../libs/protocol/index.js';
import { UpstreamRegistry } from '../../libs/upstreams/index.js';
import {
  Producers,
  UnrecoverableError,
  createProducerRedis,
  createQueueEvents,
  createWorker,
  createWorkerRedis,
  jobMetricsHooks,
  readQueueDepthAtScrape,
  type FetchJob,
} from '../../libs/queue/index.js';
import { createFetchHandler } from './fetch-file.js';
import { InflightDownloads } from './inflight-downloads.js';
import { startStorageWorker } from './storage-worker.js';

/** Builds the fetcher (workers for `fetch` and `refresh`) and starts it; returns its shutdown. */
export async function startFetcher(settings: Settings) {
  const core = await openCoreClients('fetcher', settings);
  const { logger, metrics, prisma, store, shutdown } = core;
  // The cache (ORCHARD_CACHE_REDIS_URL) may live apart from the queues (REDIS_URL): docs/cache-model.md.
  const redis = createCacheRedis(settings.cacheRedisUrl, {}, logger);
  if (!(await waitForRedis(redis))) logger.warn('Redis is unreachable; starting degraded (no cache, no queue) until it returns');
  const producerRedis = createProducerRedis(settings.redisUrl);
  const workerRedis = createWorkerRedis(settings.redisUrl);
  const producers = new Producers(producerRedis, settings.queuePrefix, logger);
  // A refresh joins the `pages` job of a gateway filling the same page (gateways run those jobs).
  const pageEvents = createQueueEvents('pages', workerRedis, settings.queuePrefix, logger);
  const upstreamHttp = new UpstreamClient(settings.upstreamHttp);
  // The same merged upstream list as the gateway's: file downloads need the upstream's credentials.
  const keys = new CacheKeys(settings.cachePrefix);
  const fills = new PageFillQueue({ producers, events: pageEvents, logger });
  // Each protocol's upstreams (configured and stored) and its page pipeline, for refresh jobs.
  const served = settings.protocols.map((mounted) => {
    const protocol = registeredProtocols().get(mounted.name);
    const registry = new UpstreamRegistry({ protocol: protocol.name, configured: mounted.upstreams, repository: new UpstreamRepository(prisma), redis, keys, logger });
    registry.start();
    const upstreams = () => registry.list();
    const generation = () => registry.generation();
    const pages = createProjectPages({ settings, protocol, prefix: mounted.prefix, redis, http: upstreamHttp, upstreams, generation, fills, metrics, logger });
    return { name: protocol.name, registry, pages };
  });
  const protocolOf = (name: string) => {
    const found = served.find((p) => p.name === name);
    if (!found) throw new UnrecoverableError(`this fetcher serves no ${name} upstreams`);
    return found;
  };
  const hooks = jobMetricsHooks(metrics, logger);
  const common = { connection: workerRedis, prefix: settings.queuePrefix, hooks, logger, stalledIntervalMs: settings.jobStalledMs };
  const storage = startStorageWorker({
    settings,
    storage: new StorageRepository(prisma),
    store,
    protocols: registeredProtocols(),
    upstreamNames: async () => (await Promise.all(served.map((p) => p.registry.list()))).flat().map((u) => u.name),
    redis,
    keys,
    producers,
    metrics,
    worker: common,
    logger,
  });
  const inflight = new InflightDownloads({ dir: settings.fetcherSpoolDir, baseUrl: settings.fetcherStreamUrl, logger });
  const fetchFile = createFetchHandler({
    store,
    inflight,
    http: upstreamHttp,
    upstreams: (protocol) => protocolOf(protocol).registry.list(),
    artifacts: new ArtifactRepository(prisma),
    artifactCache: new ArtifactCache(redis, keys),
    producers,
    maxFileBytes: settings.maxFileBytes,
    onDownloaded: storage.afterDownload,
    onDownloadStarting: storage.downloadStarting,
    metrics,
    logger,
  });
  // A download still running when the shutdown grace runs out is aborted and handed back to the queue.
  const handback = new JobHandback({ logger, metrics });
  const fetchWorker = createWorker(
    'fetch',
    handback.wrap('fetch', (payload: FetchJob, job, signal) => fetchFile(payload, signal, { jobId: job.id!, report: (progress) => job.updateProgress(progress) })),
    {
      ...common,
      concurrency: settings.fetcherConcurrency,
    },
  );
  const refreshWorker = createWorker('refresh', (payload) => protocolOf(payload.protocol).pages.refresh(payload.project), { ...common, concurrency: 4 });
  // Left unhandled on purpose: a worker loop that stops with an error ends the process (logged first).
  void runWorker(fetchWorker, logger);
  void runWorker(refreshWorker, logger);
  void runWorker(storage.worker, logger);

  readQueueDepthAtScrape(metrics, [producers.fetch, producers.refresh, producers.storage], logger);
  const ops: http.Server = await startOpsServer({
    host: settings.host,
    port: settings.fetcherPort,
    registry: metrics.registry,
    checks: {
      ...redisReadinessChecks(producerRedis, redis, settings),
      ...databaseChecks(core),
      storage: () => store.check(),
    },
    routes: (req, res) => inflight.handle(req, res),
    details: () => ({ concurrency: { fetch: settings.fetcherConcurrency, refresh: 4, storage: 1 }, dbPoolSize: settings.dbPoolSize, upstreamPool: upstreamHttp.describe() }),
    logger,
  });
  logger.info({ port: settings.fetcherPort, concurrency: settings.fetcherConcurrency }, 'fetcher running');

  // Stop taking work first and let jobs in progress finish; downloads still running when the grace
  // period ends go back to the queue (a refresh cut off by the exit is retried by the stalled check).
  shutdown.add({
    name: 'workers',
    run: () => drainWorkers([fetchWorker, refreshWorker, storage.worker], { graceMs: drainGraceMs(settings.shutdownTimeoutMs), handback, logger }),
  });
  shutdown.add({ name: 'ops server', run: () => closeServer(ops) });
  shutdown.add({ name: 'spool', run: () => inflight.close() });
  shutdown.add({ name: 'queue events', run: () => pageEvents.close() });
  shutdown.add({ name: 'producers', run: () => producers.close() });
  shutdown.add({ name: 'upstream pools', run: () => upstreamHttp.close() });
  shutdown.add({ name: 'upstream registries', run: async () => served.forEach((p) => p.registry.close()) });
  shutdown.add({
    name: 'redis',
    run: async () => {
      redis.disconnect();
      producerRedis.disconnect();
      workerRedis.disconnect();
    },
  });
  closeCoreClientsOnShutdown(core);
  return { shutdown, logger };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { shutdown } = await startFetcher(loadSettingsOrExit());
  shutdown.installSignalHandlers();
}
