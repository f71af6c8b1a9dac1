import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/client.js';

export { Prisma, PrismaClient } from './generated/client.js';
export type { Artifact, ArtifactDependency, CachedUrl, IndexView, Release, StoragePin, UpstreamSource } from './generated/client.js';

/** Options for {@link createPrismaClient}. */
export interface PrismaClientOptions {
  /** PostgreSQL connection URL. */
  databaseUrl: string;
  /** Maximum connections this client's pool opens. */
  poolSize: number;
  /** How long to wait for a free or new connection before failing; default 10 s. */
  connectionTimeoutMs?: number;
  /** Idle connections are closed after this long; default 30 s. */
  idleTimeoutMs?: number;
}

/**
 * A Prisma client on the `pg` driver adapter with its own connection pool. The caller owns it and
 * must `$disconnect()` it at shutdown.
 */
export function createPrismaClient(options: PrismaClientOptions): PrismaClient {
  const adapter = new PrismaPg({
    connectionString: options.databaseUrl,
    max: options.poolSize,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
    idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
  });
  return new PrismaClient({ adapter });
}
