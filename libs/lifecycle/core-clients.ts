import type { Settings } from '../config/index.js';
import { createPrismaClient, runMigrations, type PrismaClient } from '../db/index.js';
import { createLogger, type Logger } from '../log/index.js';
import { createMetrics, type Metrics, type ServiceName } from '../metrics/index.js';
import { createBlobStore, type BlobStore } from '../storage/index.js';
import { Shutdown } from './shutdown.js';

/** What every Orchard service starts with. */
export interface CoreClients {
  logger: Logger;
  metrics: Metrics;
  prisma: PrismaClient;
  store: BlobStore;
  shutdown: Shutdown;
}

/**
 * Opens the clients every service needs, in order: logs, metrics, the database (created and
 * migrated when missing; concurrent starters serialise on an advisory lock) and blob storage.
 * Their close steps are registered last-opened-first on the returned Shutdown, after whatever the
 * service registers itself.
 */
export async function openCoreClients(service: ServiceName, settings: Settings): Promise<CoreClients> {
  const logger = createLogger(service, settings.logLevel);
  const metrics = createMetrics(service);
  const applied = await runMigrations({ databaseUrl: settings.databaseUrl, logger });
  if (applied.length > 0) logger.info({ applied }, 'database migrated');
  const prisma = createPrismaClient({ databaseUrl: settings.databaseUrl, poolSize: settings.dbPoolSize });
  const store = createBlobStore(settings.storage);
  const shutdown = new Shutdown(logger, settings.shutdownTimeoutMs);
  return { logger, metrics, prisma, store, shutdown };
}

/** Registers the core clients' close steps; call after the service's own steps. */
export function closeCoreClientsOnShutdown(core: CoreClients): void {
  core.shutdown.add({ name: 'storage', run: () => core.store.close() });
  core.shutdown.add({ name: 'postgres', run: () => core.prisma.$disconnect() });
}
