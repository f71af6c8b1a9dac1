import { normalizeName } from '../protocol/pypi/names.js';
import { Prisma, type Artifact, type ArtifactDependency, type PrismaClient, type Release } from './client.js';

/** One declared requirement, as the extractor parsed it. */
export interface DependencyInput {
  /** Name of the required project; stored PEP 503-normalised. */
  name: string;
  /** Version specifier, "" when none. */
  specifier: string;
  extras: string[];
  marker?: string | null;
  /** PEP 440 direct reference. */
  url?: string | null;
  /** The requiring project's extra that activates this requirement. */
  extra?: string | null;
  /** The requirement exactly as declared; unique per artifact. */
  raw: string;
}

/** The facts extracted from one artifact's core metadata. */
export interface ExtractionInput {
  artifactSha256: string;
  project: string;
  version: string;
  requiresPython: string | null;
  summary: string | null;
  metadataVersion: string | null;
  /** False when dependencies are dynamic or undeclared. */
  dependenciesKnown: boolean;
  providesExtra: string[];
  dynamic: string[];
  licenseExpression: string | null;
  dependencies: DependencyInput[];
  /**
   * sha256 of the PEP 658 metadata file stored for the artifact; when given it is set on the
   * artifact in the same transaction, so the facts and the advertised metadata appear together.
   */
  metadataSha256?: string;
}

/** An extraction that could not produce facts. */
export interface FailureInput {
  artifactSha256: string;
  project: string;
  /** Unknown when the metadata could not be read at all; stored as "" on a new row. */
  version?: string;
  status: 'failed' | 'unsupported';
  reason: string;
}

/** An artifact with everything extracted from it. */
export type ArtifactFacts = Artifact & { release: Release | null; dependencies: ArtifactDependency[] };

/** One artifact of a release and the requirements it declares. */
export interface ReleaseDependencies {
  release: Release;
  filename: string;
  dependencies: ArtifactDependency[];
}

/** One cached artifact that requires a given project. */
export interface DependentRow {
  project: string;
  version: string;
  artifactSha256: string;
  filename: string;
  specifier: string;
  extras: string[];
  marker: string | null;
  url: string | null;
  extra: string | null;
  /** The requirement exactly as declared. */
  raw: string;
}

/** How many releases are in each metadata status ("ok", "failed", "unsupported", "pending"). */
export type StatusCounts = Record<string, number>;

const TRANSACTION_OPTIONS = { maxWait: 10_000, timeout: 30_000 };


function dependencyRows(artifactSha256: string, deps: DependencyInput[]) {
  return deps.map((d) => ({
    artifactSha256,
    name: normalizeName(d.name),
    specifier: d.specifier,
    extras: d.extras,
    marker: d.marker ?? null,
    url: d.url ?? null,
    extra: d.extra ?? null,
    raw: d.raw,
  }));
}

/** Releases (per-artifact metadata facts) and the dependency graph between projects. */
export class ReleaseRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Stores an artifact's extracted facts in one transaction: the release row (status "ok"), its
   * dependency rows, which replace any earlier ones, written by one multi-row insert that skips
   * duplicates (see {@link insertDependencies}), and the artifact's metadata sha256 when given.
   * @returns the release and the number of dependency rows written
   */
  async recordExtraction(input: ExtractionInput): Promise<{ release: Release; dependencies: number }> {
    const facts = {
      project: normalizeName(input.project),
      version: input.version,
      requiresPython: input.requiresPython,
      summary: input.summary,
      metadataVersion: input.metadataVersion,
      metadataStatus: 'ok',
      metadataError: null,
      dependenciesKnown: input.dependenciesKnown,
      providesExtra: input.providesExtra,
      dynamic: input.dynamic,
      licenseExpression: input.licenseExpression,
      extractedAt: new Date(),
    };
    return this.prisma.$transaction(async (tx) => {
      const release = await tx.release.upsert({
        where: { artifactSha256: input.artifactSha256 },
        create: { artifactSha256: input.artifactSha256, ...facts },
        update: facts,
      });
      await tx.artifactDependency.deleteMany({ where: { artifactSha256: input.artifactSha256 } });
      const count = await insertDependencies(tx, input.artifactSha256, input.dependencies);
      if (input.metadataSha256 !== undefined) {
        await tx.artifact.update({ where: { sha256: input.artifactSha256 }, data: { metadataSha256: input.metadataSha256 } });
      }
      return { release, dependencies: count };
    }, TRANSACTION_OPTIONS);
  }

  /**
   * Marks an artifact's extraction as failed or unsupported, in one transaction that also clears
   * any facts and dependency rows an earlier extraction left, so nothing partial remains.
   */
  async recordFailure(input: FailureInput): Promise<Release> {
    const cleared = {
      metadataStatus: input.status,
      metadataError: input.reason,
      requiresPython: null,
      summary: null,
      metadataVersion: null,
      dependenciesKnown: false,
      providesExtra: [],
      dynamic: [],
      licenseExpression: null,
      extractedAt: new Date(),
    };
    const project = normalizeName(input.project);
    return this.prisma.$transaction(async (tx) => {
      const release = await tx.release.upsert({
        where: { artifactSha256: input.artifactSha256 },
        create: { artifactSha256: input.artifactSha256, project, version: input.version ?? '', ...cleared },
        update: { project, ...(input.version === undefined ? {} : { version: input.version }), ...cleared },
      });
      await tx.artifactDependency.deleteMany({ where: { artifactSha256: input.artifactSha256 } });
      return release;
    }, TRANSACTION_OPTIONS);
  }

  /** The artifact, its release and its dependency rows, or null when the artifact is unknown. */
  async artifactFacts(sha256: string): Promise<ArtifactFacts | null> {
    return this.prisma.artifact.findUnique({
      where: { sha256 },
      include: { release: true, dependencies: { orderBy: { id: 'asc' } } },
    });
  }

  /**
   * Every cached artifact of `project` at `version` (exact version string) with the requirements
   * each declares; artifacts of one release may differ (e.g. per-platform wheels).
   */
  async dependenciesOf(project: string, version: string): Promise<ReleaseDependencies[]> {
    const releases = await this.prisma.release.findMany({
      where: { project: normalizeName(project), version },
      include: {
        artifact: { select: { filename: true, dependencies: { orderBy: { id: 'asc' } } } },
      },
      orderBy: { artifact: { filename: 'asc' } },
    });
    return releases.map(({ artifact, ...release }) => ({
      release,
      filename: artifact.filename,
      dependencies: artifact.dependencies,
    }));
  }

  /**
   * Every cached artifact whose release requires `name` (any spelling; compared normalised),
   * ordered by project, then version (as text), then filename.
   */
  async dependentsOf(name: string): Promise<DependentRow[]> {
    const rows = await this.prisma.artifactDependency.findMany({
      where: { name: normalizeName(name), artifact: { release: { isNot: null } } },
      select: {
        artifactSha256: true,
        specifier: true,
        extras: true,
        marker: true,
        url: true,
        extra: true,
        raw: true,
        artifact: { select: { filename: true, release: { select: { project: true, version: true } } } },
      },
      orderBy: [
        { artifact: { release: { project: 'asc' } } },
        { artifact: { release: { version: 'asc' } } },
        { artifact: { filename: 'asc' } },
      ],
    });
    return rows.flatMap(({ artifact, ...dep }) =>
      artifact.release === null
        ? []
        : [{ project: artifact.release.project, version: artifact.release.version, filename: artifact.filename, ...dep }],
    );
  }

  /**
   * The distinct version strings cached for `project` (any spelling), in no particular order; the
   * caller compares them as PEP 440 versions.
   */
  async versionsOf(project: string): Promise<string[]> {
    const rows = await this.prisma.release.findMany({
      where: { project: normalizeName(project) },
      distinct: ['version'],
      select: { version: true },
    });
    return rows.map((r) => r.version);
  }

  /** Releases per metadata status, e.g. `{ ok: 120, failed: 3 }` (statuses with none are absent). */
  async statusCounts(): Promise<StatusCounts> {
    const groups = await this.prisma.release.groupBy({ by: ['metadataStatus'], _count: { _all: true } });
    return Object.fromEntries(groups.map((g) => [g.metadataStatus, g._count._all]));
  }

  /**
   * Inserts dependency rows with one `create` per row and no transaction. Only for the benchmark
   * that compares it with the single multi-row insert of {@link recordExtraction}.
   * @returns the number of rows inserted
   */
  async insertDependenciesOneByOne(artifactSha256: string, deps: DependencyInput[]): Promise<number> {
    let inserted = 0;
    for (const data of dependencyRows(artifactSha256, deps)) {
      await this.prisma.artifactDependency.create({ data });
      inserted += 1;
    }
    return inserted;
  }
}

/**
 * Writes an artifact's dependency rows with one `INSERT … SELECT FROM unnest(…) ON CONFLICT DO
 * NOTHING`: a single statement with seven array parameters, whatever the row count, keeping the
 * declared order in the ids. This is what `createMany({ skipDuplicates: true })` means, without its
 * cost: Prisma 7's client renders and checks every one of the 8 × N bind values in JavaScript and
 * WebAssembly, which measured ~0.2 ms per row here (10,000 requirements: ~2 s, only ~5× faster than
 * one insert per row); this statement takes ~50 ms for the same rows (README, performance).
 * Extras travel as one JSON array per row because PostgreSQL arrays cannot be ragged.
 * @returns the number of rows inserted (duplicates of an existing `raw` are skipped)
 */
async function insertDependencies(tx: Prisma.TransactionClient, artifactSha256: string, deps: DependencyInput[]): Promise<number> {
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
