import type { Settings } from '../config/index.js';
import { BackgroundMigrations, checkMigrationsApplied, createPrismaClient, runMigrations, type PrismaClient } from '../db/index.js';
import { createLogger, errorReason, type Logger } from '../log/index.js';
import { createMetrics, type Metrics, type ServiceName } from '../metrics/index.js';
import { createBlobStore, type BlobStore } from '../storage/index.js';
import { CheckPending, type Check } from './readiness.js';
import { Shutdown } from './shutdown.js';
import { describeRedisTarget, parseRedisUrl } from '../redis/index.js';

/** What every Orchard service starts with. */
export interface CoreClients {
  logger: Logger;
  metrics: Metrics;
  prisma: PrismaClient;
  /**
   * Creates and migrates the database in the background (ORCHARD_MIGRATE=auto), or waits for the
   * migration Job to have (off); `applied` resolves once the schema is there.
   */
  migrations: BackgroundMigrations;
  store: BlobStore;
  shutdown: Shutdown;
}

/**
 * Opens the clients every service needs: logs, metrics, the database and blob storage. PostgreSQL
 * does not gate the start: the database is created and migrated in the background (concurrent
 * services serialise on an advisory lock), retried until PostgreSQL answers, so a service started
 * during a database outage serves whatever needs no database. With ORCHARD_MIGRATE=off the same
 * loop only checks, without DDL, that the migrations are recorded. Close steps are registered by
 * {@link closeCoreClientsOnShutdown}.
 */
export async function openCoreClients(service: ServiceName, settings: Settings): Promise<CoreClients> {
  const logger = createLogger(service, settings.logLevel);
  // Where the queues and the cache are (hosts and mode only: the URLs may hold passwords).
  logger.info(
    { queueRedis: describeRedisTarget(parseRedisUrl(settings.redisUrl)), cacheRedis: describeRedisTarget(parseRedisUrl(settings.cacheRedisUrl)) },
    'Redis for the queues and the cache',
  );
  const metrics = createMetrics(service);
  const migrate = settings.migrate === 'off' ? checkMigrationsApplied : runMigrations;
  const migrations = new BackgroundMigrations({ databaseUrl: settings.databaseUrl, logger, migrate });
  migrations.start();
  // With PostgreSQL up, the first attempt succeeds in well under a second: waiting for it keeps a
  // healthy start as before (no window where the API answers 503). With PostgreSQL down it fails
  // at once (refused) or after FIRST_ATTEMPT_WAIT_MS (unanswered), and the service starts anyway.
  await untilOrAfter(migrations.firstAttempt, FIRST_ATTEMPT_WAIT_MS);
  const prisma = createPrismaClient({ databaseUrl: settings.databaseUrl, poolSize: settings.dbPoolSize });
  void migrations.applied.then((applied) => (applied ? warmUp(prisma, logger) : undefined));
  const store = createBlobStore(settings.storage, logger);
  const shutdown = new Shutdown(logger, settings.shutdownTimeoutMs);
  return { logger, metrics, prisma, migrations, store, shutdown };
}

const FIRST_ATTEMPT_WAIT_MS = 5_000;

/**
 * Makes Prisma ready at start rather than on the first request's path: its first model query loads
 * the query compiler and opens a pooled connection, ~50–100 ms of CPU on the event loop here, which
 * stalled the downloads running beside the first file a fetcher recorded.
 */
async function warmUp(prisma: PrismaClient, logger: Logger): Promise<void> {
  const started = performance.now();
  try {
    await prisma.artifact.findFirst({ where: { sha256: '' }, select: { sha256: true } });
    logger.debug({ ms: Math.round(performance.now() - started) }, 'database client warmed up');
  } catch (err) {
    logger.debug({ err: errorReason(err) }, 'database client warm-up failed; the first query pays for it');
  }
}

async function untilOrAfter(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/**
 * The /ready checks for PostgreSQL: `postgres` (a query answers) and `migrations` (`pending` with
 * the reason until the background migration has succeeded, `error` when it needs a human).
 */
export function databaseChecks(core: Pick<CoreClients, 'prisma' | 'migrations'>): { postgres: Check; migrations: Check } {
  return {
    postgres: () => core.prisma.$queryRaw`SELECT 1`,
    migrations: async () => {
      const state = core.migrations.state();
      switch (state.status) {
        case 'applied':
          return;
        case 'pending':
          throw new CheckPending(state.attempts === 0 ? 'migrations pending: first attempt running' : `migrations pending: ${state.reason}`);
        case 'failed':
          throw new Error(`migrations failed: ${state.reason}`);
        case 'stopped':
          throw new Error('migrations stopped: shutting down');
      }
    },
  };
}

/** Registers the core clients' close steps; call after the service's own steps. */
export function closeCoreClientsOnShutdown(core: CoreClients): void {
  core.shutdown.add({ name: 'migrations', run: () => core.migrations.stop() });
  core.shutdown.add({ name: 'storage', run: () => core.store.close() });
  core.shutdown.add({ name: 'postgres', run: () => core.prisma.$disconnect() });
}
