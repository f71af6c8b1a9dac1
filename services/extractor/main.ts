import { ArtifactCache, CacheKeys, createCacheRedis, redisReadinessChecks, waitForRedis } from '../../libs/cache/index.js';
import { loadSettingsOrExit, type Settings } from '../../libs/config/index.js';
import { ReleaseRepository } from '../../libs/db/index.js';
import { withLogContext } from '../../libs/log/index.js';
import { closeCoreClientsOnShutdown, closeServer, databaseChecks, drainGraceMs, drainWorkers, openCoreClients, runWorker, startOpsServer } from '../../libs/lifecycle/index.js';
import { registeredProtocols } from '../../libs/protocol/index.js';
import { Producers, createProducerRedis, createWorker, createWorkerRedis, jobMetricsHooks, readQueueDepthAtScrape } from '../../libs/queue/index.js';
import { lowerCpuPriority, logPriority } from './cpu-priority.js';
import { createExtractHandler } from './extract-artifact.js';

/** Builds the extractor (workers for `extract`) and starts it; returns its shutdown. */
export async function startExtractor(settings: Settings) {
  const core = await openCoreClients('extractor', settings);
  const { logger, metrics, prisma, store, shutdown } = core;
  // The cache (ORCHARD_CACHE_REDIS_URL) may live apart from the queues (REDIS_URL): docs/cache-model.md.
  const redis = createCacheRedis(settings.cacheRedisUrl, {}, logger);
  if (!(await waitForRedis(redis))) logger.warn('Redis is unreachable; starting degraded (no cache, no queue) until it returns');
  const workerRedis = createWorkerRedis(settings.redisUrl);
  const producerRedis = createProducerRedis(settings.redisUrl);
  const producers = new Producers(producerRedis, settings.queuePrefix, logger);
  // Jobs name their protocol; releases are recorded in that protocol's names and versions.
  const protocols = registeredProtocols();
  const releases = new Map(protocols.names().map((name) => [name, new ReleaseRepository(prisma, protocols.get(name))]));
  const extract = createExtractHandler({
    protocols,
    store,
    releases: (name) => releases.get(name) ?? new ReleaseRepository(prisma, protocols.get(name)),
    artifactCache: new ArtifactCache(redis, new CacheKeys(settings.cachePrefix)),
    logger,
  });
  const worker = createWorker('extract', (payload, job) => withLogContext({ queue: 'extract', jobId: job.id, protocol: payload.protocol }, () => extract(payload)), {
    connection: workerRedis,
    prefix: settings.queuePrefix,
    concurrency: settings.extractorConcurrency,
    hooks: jobMetricsHooks(metrics, logger),
    logger,
    stalledIntervalMs: settings.jobStalledMs,
  });
  // Extract jobs wait in the queue, attempts untouched, until the database can record their
  // results: run now, each would burn its few retries during a database outage and fail for good.
  void core.migrations.applied.then((applied) => {
    if (applied) {
      logger.info('extract worker started: the database schema is in place');
      // Left unhandled on purpose: a worker loop that stops with an error ends the process (logged first).
      void runWorker(worker, logger);
    } else {
      logger.info('extract worker not started: stopped before the database was migrated');
    }
  });
  readQueueDepthAtScrape(metrics, [producers.extract], logger);
  const ops = await startOpsServer({
    host: settings.host,
    port: settings.extractorPort,
    registry: metrics.registry,
    checks: {
      ...redisReadinessChecks(producerRedis, redis, settings),
      ...databaseChecks(core),
      storage: () => store.check(),
    },
    details: () => ({ concurrency: { extract: settings.extractorConcurrency }, dbPoolSize: settings.dbPoolSize }),
    logger,
  });
  logger.info({ port: settings.extractorPort, concurrency: settings.extractorConcurrency }, 'extractor running');

  // Stop taking work and let extractions in progress finish; one cut off by the exit is returned to
  // the queue by BullMQ's stalled-job check.
  shutdown.add({ name: 'worker', run: () => drainWorkers([worker], { graceMs: drainGraceMs(settings.shutdownTimeoutMs), logger }) });
  shutdown.add({ name: 'ops server', run: () => closeServer(ops) });
  shutdown.add({ name: 'producers', run: () => producers.close() });
  shutdown.add({
    name: 'redis',
    run: async () => {
      redis.disconnect();
      workerRedis.disconnect();
      producerRedis.disconnect();
    },
  });
  closeCoreClientsOnShutdown(core);
  return { shutdown, logger };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const settings = loadSettingsOrExit();
  const priority = lowerCpuPriority(settings.extractorNice);
  const { shutdown, logger } = await startExtractor(settings);
  logPriority(priority, logger);
  shutdown.installSignalHandlers();
}
