export { createPrismaClient, Prisma, PrismaClient, type PrismaClientOptions } from './client.js';
export type { Artifact, ArtifactDependency, CachedUrl, Release, UpstreamSource } from './client.js';
export { runMigrations, MigrationError, type RunMigrationsOptions, type MigrationLogger } from './migrate.js';
export { findMigrationsDir } from './migration-files.js';
export {
  ArtifactRepository,
  canonicalUrl,
  urlHash,
  type ArtifactSummary,
  type FetchedArtifact,
  type ListAllOptions,
  type RecordFetchedResult,
} from './artifact-repository.js';
export {
  ReleaseRepository,
  type ArtifactFacts,
  type DependencyInput,
  type DependentRow,
  type ExtractionInput,
  type FailureInput,
  type ReleaseDependencies,
} from './release-repository.js';
export {
  UpstreamRepository,
  toPublic,
  type CreateUpstreamInput,
  type PublicUpstreamSource,
  type UpdateUpstreamInput,
  type UpstreamAuthType,
} from './upstream-repository.js';
