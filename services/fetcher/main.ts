import type http from 'node:http';
import { ArtifactCache, CacheKeys, createCacheRedis, waitForRedis } from '../../libs/cache/index.js';
import { loadSettingsOrExit, type Settings } from '../../libs/config/index.js';
import { ArtifactRepository } from '../../libs/db/index.js';
import { UpstreamClient } from '../../libs/http/index.js';
import { closeCoreClientsOnShutdown, closeServer, openCoreClients, startOpsServer } from '../../libs/lifecycle/index.js';
import { createProjectPages } from '../../libs/pages/index.js';
import { pypiProtocol } from '../../libs/protocol/pypi/index.js';
import { Producers, createProducerRedis, createWorker, createWorkerRedis, jobMetricsHooks, queueDepthCollector } from '../../libs/queue/index.js';

import { createFetchHandler } from './fetch-file.js';

/** Builds the fetcher (workers for `fetch` and `refresh`) and starts it; returns its shutdown. */
export async function startFetcher(settings: Settings) {
  const core = await openCoreClients('fetcher', settings);
  const { logger, metrics, prisma, store, shutdown } = core;
  const redis = createCacheRedis(settings.redisUrl);
  if (!(await waitForRedis(redis))) logger.warn('Redis is unreachable; starting degraded (no cache, no queue) until it returns');
  const producerRedis = createProducerRedis(settings.redisUrl);
  const workerRedis = createWorkerRedis(settings.redisUrl);
  const producers = new Producers(producerRedis, settings.queuePrefix);
  const upstreamHttp = new UpstreamClient(settings.upstreamHttp);
  const upstreams = async () => settings.upstreams;
  const pages = createProjectPages({ settings, protocol: pypiProtocol, redis, http: upstreamHttp, upstreams, metrics, logger });
  const fetchFile = createFetchHandler({
    store,
    http: upstreamHttp,
    upstreams,
    artifacts: new ArtifactRepository(prisma),
    artifactCache: new ArtifactCache(redis, new CacheKeys(settings.cachePrefix)),
    producers,
    maxFileBytes: settings.maxFileBytes,
    metrics,
    logger,
  });
  const hooks = jobMetricsHooks(metrics, logger);
  const common = { connection: workerRedis, prefix: settings.queuePrefix, hooks };
  const fetchWorker = createWorker('fetch', (payload) => fetchFile(payload), { ...common, concurrency: settings.fetcherConcurrency });
  const refreshWorker = createWorker('refresh', (payload) => pages.refresh(payload.project), { ...common, concurrency: 4 });
  void fetchWorker.run();
  void refreshWorker.run();

  const ops: http.Server = await startOpsServer({
    host: settings.host,
    port: settings.fetcherPort,
    registry: metrics.registry,
    checks: {
      redis: () => redis.ping(),
      postgres: () => prisma.$queryRaw`SELECT 1`,
      storage: () => store.check(),
    },
    details: () => ({ concurrency: { fetch: settings.fetcherConcurrency, refresh: 4 }, dbPoolSize: settings.dbPoolSize, upstreamPool: upstreamHttp.describe() }),
    beforeScrape: queueDepthCollector(metrics, [producers.fetch, producers.refresh]),
  });
  logger.info({ port: settings.fetcherPort, concurrency: settings.fetcherConcurrency }, 'fetcher running');

  // Stop taking work first; close() waits for jobs in progress (a job cut off is retried elsewhere).
  shutdown.add({ name: 'workers', run: () => Promise.allSettled([fetchWorker.close(), refreshWorker.close()]) });
  shutdown.add({ name: 'ops server', run: () => closeServer(ops) });
  shutdown.add({ name: 'producers', run: () => producers.close() });
  shutdown.add({ name: 'upstream pools', run: () => upstreamHttp.close() });
  shutdown.add({ name: 'redis', run: async () => { redis.disconnect(); producerRedis.disconnect(); workerRedis.disconnect(); } });
  closeCoreClientsOnShutdown(core);
  return { shutdown, logger };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { shutdown } = await startFetcher(loadSettingsOrExit());
  shutdown.installSignalHandlers();
}
