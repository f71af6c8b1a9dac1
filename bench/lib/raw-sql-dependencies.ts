/**
 * The baseline the benchmarks compare Prisma's `createMany` with: the raw insert Orchard used
 * before (one `INSERT … SELECT FROM unnest(…)`: seven array parameters whatever the row count).
 * Only the benchmarks use it; the product writes dependency rows with `createMany` alone.
 */
import type { Prisma } from '../../libs/db/client.js';
import { ReleaseRepository, dependencyRows, type DependencyInput } from '../../libs/db/release-repository.js';

/** The two ways of writing dependency rows the benchmarks measure. */
export type DependencyWriter = 'createMany' | 'unnest';

/** The product's writer. */
export const PRODUCT_WRITER: DependencyWriter = 'createMany';

class UnnestReleaseRepository extends ReleaseRepository {
  protected override async insertDependencies(tx: Prisma.TransactionClient, artifactSha256: string, deps: DependencyInput[]): Promise<number> {
    if (deps.length === 0) return 0;
    const rows = dependencyRows(artifactSha256, deps);
    return tx.$executeRaw`
      INSERT INTO artifact_dependency (artifact_sha256, name, specifier, extras, marker, url, extra, raw)
      SELECT ${artifactSha256}, d.name, d.specifier, ARRAY(SELECT jsonb_array_elements_text(d.extras::jsonb)), d.marker, d.url, d.extra, d.raw
      FROM unnest(
        ${rows.map((r) => r.name)}::text[],
        ${rows.map((r) => r.specifier)}::text[],
        ${rows.map((r) => JSON.stringify(r.extras))}::text[],
        ${rows.map((r) => r.marker)}::text[],
        ${rows.map((r) => r.url)}::text[],
        ${rows.map((r) => r.extra)}::text[],
        ${rows.map((r) => r.raw)}::text[]
      ) WITH ORDINALITY AS d(name, specifier, extras, marker, url, extra, raw, ord)
      ORDER BY d.ord
      ON CONFLICT (artifact_sha256, raw) DO NOTHING`;
  }
}

/** A release repository writing dependency rows the given way. */
export function releaseRepositoryWith(writer: DependencyWriter, ...args: ConstructorParameters<typeof ReleaseRepository>): ReleaseRepository {
  return writer === 'createMany' ? new ReleaseRepository(...args) : new UnnestReleaseRepository(...args);
}
