/**
 * The extractor's real dependency graph for tests and the extraction benchmark: a fresh migrated
 * PostgreSQL database, a real blob store (a temp-dir FsBlobStore unless one is given), Redis for the
 * artifact cache under a unique prefix, the real repositories and the real extract handler.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { ArtifactCache, CacheKeys, createCacheRedis } from '../../libs/cache/index.js';
import { ArtifactRepository, createPrismaClient, ReleaseRepository, runMigrations, type PrismaClient } from '../../libs/db/index.js';
import type { ExtractJob } from '../../libs/queue/index.js';
import { registeredProtocols } from '../../libs/protocol/index.js';
import { pypiProtocol } from '../../libs/protocol/pypi/index.js';
import { blobKey, FsBlobStore, type BlobStore, sha256Digest } from '../../libs/storage/index.js';
import { createExtractHandler, type ExtractOutcome } from '../../services/extractor/extract-artifact.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

export const REDIS_URL = process.env['ORCHARD_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379/0';

export interface ExtractionHarness {
  db: TestDatabase;
  prisma: PrismaClient;
  store: BlobStore;
  artifacts: ArtifactRepository;
  releases: ReleaseRepository;
  /** Unique prefix for Redis keys and queues of this harness. */
  prefix: string;
  /** A silent logger for the queues and workers a test builds around the handler. */
  logger: Logger;
  extract: (job: ExtractJob) => Promise<ExtractOutcome>;
  /** Stores the bytes under their sha256 and records the artifact as the fetcher would. */
  storeArtifact(file: { filename: string; project: string; bytes: Buffer; sha256: string }): Promise<ExtractJob>;
  /** Records an artifact already in storage (e.g. one written by streaming). */
  recordArtifact(file: { filename: string; project: string; size: number; sha256: string }): Promise<ExtractJob>;
  close(): Promise<void>;
}

/** Options for {@link createExtractionHarness}. */
export interface HarnessOptions {
  /** Wraps the store the handler sees (e.g. to count reads); the harness itself writes to the inner one. */
  wrapStore?: (store: BlobStore) => BlobStore;
  /** The store to use instead of a temp-dir FsBlobStore (closed by the caller). */
  store?: BlobStore;
  poolSize?: number;
}

export async function createExtractionHarness(options: HarnessOptions = {}): Promise<ExtractionHarness> {
  const db = await createTestDatabase();
  await runMigrations({ databaseUrl: db.url });
  const prisma = createPrismaClient({ databaseUrl: db.url, poolSize: options.poolSize ?? 4 });
  const dir = options.store ? undefined : await mkdtemp(path.join(tmpdir(), 'orchard-extract-'));
  const store = options.store ?? new FsBlobStore({ root: dir! });
  const prefix = `test-extract-${randomBytes(6).toString('hex')}`;
  const redis = createCacheRedis(REDIS_URL);
  const artifacts = new ArtifactRepository(prisma);
  const releases = new ReleaseRepository(prisma, pypiProtocol);
  const logger = pino({ level: 'silent' });
  const extract = createExtractHandler({
    protocols: registeredProtocols(),
    store: options.wrapStore ? options.wrapStore(store) : store,
    releases: () => releases,
    artifactCache: new ArtifactCache(redis, new CacheKeys(prefix)),
    logger,
  });
  const recordArtifact: ExtractionHarness['recordArtifact'] = async (file) => {
    await artifacts.recordFetched({
      sha256: file.sha256,
      size: file.size,
      filename: file.filename,
      project: file.project,
      protocol: 'pypi',
      storageKey: blobKey(file.sha256),
      url: `https://files.example/${file.sha256}/${file.filename}`,
      upstream: 'test',
    });
    return { protocol: 'pypi', sha256: file.sha256, project: file.project, filename: file.filename };
  };
  return {
    db,
    logger,
    prisma,
    store,
    artifacts,
    releases,
    prefix,
    extract,
    async storeArtifact(file) {
      await store.put(blobKey(file.sha256), Readable.from([file.bytes]), { expected: sha256Digest(file.sha256) });
      return recordArtifact({ ...file, size: file.bytes.length });
    },
    recordArtifact,
    async close() {
      const keys = await redis.keys(`${prefix}:*`).catch(() => [] as string[]);
      if (keys.length > 0) await redis.del(...keys).catch(() => 0);
      redis.disconnect();
      await prisma.$disconnect();
      await db.drop();
      if (!options.store) await store.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The rows extraction wrote for one artifact, in the shape the corpus declares. */
export async function storedDependencies(prisma: PrismaClient, sha256: string) {
  const rows = await prisma.artifactDependency.findMany({ where: { artifactSha256: sha256 }, orderBy: { id: 'asc' } });
  return rows.map(({ name, specifier, extras, marker, url, extra, raw }) => ({ name, specifier, extras, marker, url, extra, raw }));
}
