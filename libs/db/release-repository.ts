import { Prisma, type Artifact, type ArtifactDependency, type PrismaClient, type Release } from './client.js';
import {
  artifactDependencyPage,
  declaringArtifacts,
  dependentsPage,
  releaseArtifacts,
  releaseDependencyPage,
  type DependentEntry,
  type DependentKey,
  type Page,
  type ReleaseArtifact,
  type ReleaseProtocol,
  type ReleaseRowKey,
} from './dependency-pages.js';

/** One declared requirement, as the extractor parsed it. */
export interface DependencyInput {
  /** Name of the required project; stored in the protocol's canonical form. */
  name: string;
  /** Version specifier, "" when none. */
  specifier: string;
  extras: string[];
  marker?: string | null;
  /** PEP 440 direct reference. */
  url?: string | null;
  /** The requiring project's extra that activates this requirement. */
  extra?: string | null;
  /** npm's kind of requirement (dependency, optional, peer, peer-optional); absent for PyPI's. */
  kind?: string | null;
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

/** An artifact with everything extracted from it: its dependency rows one page at a time. */
export type ArtifactFacts = Artifact & { release: Release | null; dependencies: ArtifactDependency[]; moreDependencies: boolean };

/** Rows per page when the caller does not say. */
export const DEFAULT_PAGE_ROWS = 1000;

/** How many releases are in each metadata status ("ok", "failed", "unsupported", "pending"). */
export type StatusCounts = Record<string, number>;

const TRANSACTION_OPTIONS = { maxWait: 10_000, timeout: 30_000 };

export function dependencyRows(artifactSha256: string, deps: DependencyInput[]) {
  return deps.map((d) => ({
    artifactSha256,
    name: d.name,
    specifier: d.specifier,
    extras: d.extras,
    marker: d.marker ?? null,
    url: d.url ?? null,
    extra: d.extra ?? null,
    kind: d.kind ?? null,
    raw: d.raw,
  }));
}

/** Releases (per-artifact metadata facts) and the dependency graph between projects. */
export class ReleaseRepository {
  /** @param protocol the releases' protocol: names are stored in its canonical form, versions in its order */
  constructor(
    private readonly prisma: PrismaClient,
    private readonly protocol: ReleaseProtocol,
  ) {}

  /**
   * Stores an artifact's extracted facts in one transaction: the release row (status "ok"), its
   * dependency rows, which replace any earlier ones, written by one multi-row insert that skips
   * duplicates (see {@link insertDependencies}), and the artifact's metadata sha256 when given.
   * @returns the release and the number of dependency rows written
   */
  async recordExtraction(input: ExtractionInput): Promise<{ release: Release; dependencies: number }> {
    const facts = {
      protocol: this.protocol.name,
      project: this.protocol.normalizeName(input.project),
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
      const count = await this.insertDependencies(tx, input.artifactSha256, this.canonical(input.dependencies));
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
    const project = this.protocol.normalizeName(input.project);
    return this.prisma.$transaction(async (tx) => {
      const release = await tx.release.upsert({
        where: { artifactSha256: input.artifactSha256 },
        create: { artifactSha256: input.artifactSha256, protocol: this.protocol.name, project, version: input.version ?? '', ...cleared },
        update: { protocol: this.protocol.name, project, ...(input.version === undefined ? {} : { version: input.version }), ...cleared },
      });
      await tx.artifactDependency.deleteMany({ where: { artifactSha256: input.artifactSha256 } });
      return release;
    }, TRANSACTION_OPTIONS);
  }

  /**
   * The artifact, its release and one page of its dependency rows (declared order, after `afterId`,
   * at most `limit`), or null when the artifact is unknown.
   */
  async artifactFacts(sha256: string, page: { afterId?: bigint; limit: number } = { limit: DEFAULT_PAGE_ROWS }): Promise<ArtifactFacts | null> {
    const artifact = await this.prisma.artifact.findUnique({ where: { sha256 }, include: { release: true } });
    if (!artifact || artifact.protocol !== this.protocol.name) return null;
    const dependencies = await artifactDependencyPage(this.prisma, sha256, page.afterId, page.limit);
    return { ...artifact, dependencies: dependencies.items, moreDependencies: dependencies.more };
  }

  /** Every cached artifact of `project` at any of `versions` (exact strings), by filename, without requirements. */
  async releaseArtifacts(project: string, versions: string[]): Promise<ReleaseArtifact[]> {
    return releaseArtifacts(this.prisma, this.protocol, project, versions);
  }

  /** One page of the requirements of `artifacts` (in that order), after `after`. */
  async releaseDependencyPage(artifacts: ReleaseArtifact[], after: ReleaseRowKey | undefined, limit: number): Promise<Page<ArtifactDependency>> {
    return releaseDependencyPage(this.prisma, artifacts, after, limit);
  }

  /** For each of `raws`, which of `artifactSha256s` declare it. */
  async declaringArtifacts(artifactSha256s: string[], raws: string[]): Promise<Map<string, Set<string>>> {
    return declaringArtifacts(this.prisma, artifactSha256s, raws);
  }

  /**
   * One page of the cached releases requiring `name` (any spelling; compared normalised): one entry
   * per requiring release and requirement, by project, PEP 440 version, then raw requirement.
   */
  async dependentsPage(name: string, after: DependentKey | undefined, limit: number): Promise<Page<DependentEntry>> {
    return dependentsPage(this.prisma, this.protocol, name, after, limit);
  }

  /**
   * The distinct version strings cached for `project` (any spelling), in no particular order; the
   * caller compares them as PEP 440 versions.
   */
  async versionsOf(project: string): Promise<string[]> {
    const rows = await this.prisma.release.findMany({
      where: { protocol: this.protocol.name, project: this.protocol.normalizeName(project) },
      distinct: ['version'],
      select: { version: true },
    });
    return rows.map((r) => r.version);
  }

  /** The requirements with the required project's name in canonical form (the form stored and queried). */
  private canonical(deps: DependencyInput[]): DependencyInput[] {
    return deps.map((d) => ({ ...d, name: this.protocol.normalizeName(d.name) }));
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
  /**
   * Prisma's multi-row insert, `createMany({ skipDuplicates: true })` (the design card's form):
   * `INSERT … VALUES (…), (…) ON CONFLICT DO NOTHING`, rows in declared order (so are their ids),
   * split by Prisma only beyond PostgreSQL's bind parameter limit, in the caller's transaction.
   * It costs ~2.4 ms per call plus ~0.3 ms per row against a raw `unnest` insert's ~1.3 ms (the
   * README's performance section has both, measured by `bench/batch-insert.ts`).
   * @returns the rows written (duplicates skipped)
   */
  protected async insertDependencies(tx: Prisma.TransactionClient, artifactSha256: string, deps: DependencyInput[]): Promise<number> {
    if (deps.length === 0) return 0;
    const { count } = await tx.artifactDependency.createMany({ data: dependencyRows(artifactSha256, deps), skipDuplicates: true });
    return count;
  }

  async insertDependenciesOneByOne(artifactSha256: string, deps: DependencyInput[]): Promise<number> {
    let inserted = 0;
    for (const data of dependencyRows(artifactSha256, this.canonical(deps))) {
      await this.prisma.artifactDependency.create({ data });
      inserted += 1;
    }
    return inserted;
  }
}
