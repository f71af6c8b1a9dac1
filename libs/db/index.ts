export { createPrismaClient, Prisma, PrismaClient, type PrismaClientOptions } from './client.js';
export type { Artifact, ArtifactDependency, CachedUrl, IndexView, Release, StoragePin, UpstreamSource } from './client.js';
export { ViewRepository } from './view-repository.js';
export { runMigrations, MigrationError, type RunMigrationsOptions, type MigrationLogger } from './migrate.js';
export { findMigrationsDir } from './migration-files.js';
export { checkMigrationsApplied, MigrationsNotAppliedError } from './migrations-applied.js';
export { BackgroundMigrations, type BackgroundMigrationsLogger, type BackgroundMigrationsOptions, type MigrationState } from './background-migrations.js';
export { DatabaseUnavailableError, isDatabaseClientError, isDatabaseUnavailable } from './database-unavailable.js';
export { ArtifactRepository, canonicalUrl, urlHash, type ArtifactSummary, type FetchedArtifact, type ListAllOptions, type RecordFetchedResult } from './artifact-repository.js';
export { DEFAULT_PAGE_ROWS, ReleaseRepository, type ArtifactFacts, type DependencyInput, type ExtractionInput, type FailureInput } from './release-repository.js';
export { type DependentEntry, type DependentKey, type Page, type ReleaseArtifact, type ReleaseProtocol, type ReleaseRowKey } from './dependency-pages.js';
export { UpstreamRepository, toPublic, type CreateUpstreamInput, type PublicUpstreamSource, type UpdateUpstreamInput, type UpstreamAuthType } from './upstream-repository.js';
export {
  StorageRepository,
  type CandidateCursor,
  type EvictedRow,
  type EvictionCandidate,
  type StoragePinRow,
  type StorageReport,
  type StorageUsage,
} from './storage-repository.js';
