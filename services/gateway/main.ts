import http from 'node:http';
import { ArtifactCache, CacheKeys, createCacheRedis, waitForRedis } from '../../libs/cache/index.js';
import { loadSettingsOrExit, type Settings } from '../../libs/config/index.js';
import { UpstreamClient } from '../../libs/http/index.js';
import { closeCoreClientsOnShutdown, closeServer, openCoreClients } from '../../libs/lifecycle/index.js';
import { createProjectPages } from '../../libs/pages/index.js';
import { pypiProtocol } from '../../libs/protocol/pypi/index.js';
import { Producers, createFetchEvents, createProducerRedis, createWorkerRedis } from '../../libs/queue/index.js';
import { createApp } from './app.js';
import { FileLocator } from './file-locator.js';
import { MetadataFiles } from './metadata-files.js';

/** Builds the gateway from settings and starts listening; returns its shutdown. */
export async function startGateway(settings: Settings) {
  const core = await openCoreClients('gateway', settings);
  const { logger, metrics, prisma, store, shutdown } = core;
  const redis = createCacheRedis(settings.redisUrl);
  if (!(await waitForRedis(redis))) logger.warn('Redis is unreachable; starting degraded (no cache, no queue) until it returns');
  const producerRedis = createProducerRedis(settings.redisUrl);
  const eventsRedis = createWorkerRedis(settings.redisUrl);
  const producers = new Producers(producerRedis, settings.queuePrefix);
  const fetchEvents = createFetchEvents(eventsRedis, settings.queuePrefix);
  const keys = new CacheKeys(settings.cachePrefix);
  const upstreamHttp = new UpstreamClient(settings.upstreamHttp);
  const upstreams = async () => settings.upstreams;
  const protocol = pypiProtocol;
  const pages = createProjectPages({
    settings,
    protocol,
    redis,
    http: upstreamHttp,
    upstreams,
    onStale: (project) => producers.addRefresh({ protocol: 'pypi', project }),
    metrics,
    logger,
  });
  const files = new FileLocator({
    protocol: protocol.name,
    pages,
    artifacts: new ArtifactCache(redis, keys),
    store,
    producers,
    fetchEvents,
    fetchWaitMs: settings.fetchWaitMs,
    metrics,
    logger,
  });
  const app = createApp({
    logger,
    metrics,
    simple: { protocol, pages, indexTtlSeconds: settings.indexTtlSeconds },
    files: {
      protocol,
      files,
      metadata: new MetadataFiles({ store, files, http: upstreamHttp, upstreams, metrics }),
      store,
      http: upstreamHttp,
      upstreams,
      metrics,
    },
    ops: {
      registry: metrics.registry,
      checks: {
        redis: () => redis.ping(),
        postgres: () => prisma.$queryRaw`SELECT 1`,
        storage: () => store.check(),
      },
      details: () => ({ dbPoolSize: settings.dbPoolSize, upstreamPool: upstreamHttp.describe() }),
    },
  });
  const server = http.createServer({ requestTimeout: 300_000, headersTimeout: 30_000, maxHeaderSize: 16 * 1024 }, app);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.gatewayPort, settings.host, resolve);
  });
  logger.info({ port: settings.gatewayPort, upstreams: settings.upstreams.map((u) => u.name) }, 'gateway listening');

  shutdown.add({ name: 'http server', run: () => closeServer(server) });
  shutdown.add({ name: 'queue events', run: () => fetchEvents.close() });
  shutdown.add({ name: 'producers', run: () => producers.close() });
  shutdown.add({ name: 'upstream pools', run: () => upstreamHttp.close() });
  shutdown.add({ name: 'redis', run: async () => { redis.disconnect(); producerRedis.disconnect(); eventsRedis.disconnect(); } });
  closeCoreClientsOnShutdown(core);
  return { server, shutdown, logger };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { shutdown } = await startGateway(loadSettingsOrExit());
  shutdown.installSignalHandlers();
}
