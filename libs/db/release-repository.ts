import type { Artifact, ArtifactDependency, PrismaClient, Release } from './client.js';

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
  extra: string | null;
}

const TRANSACTION_OPTIONS = { maxWait: 10_000, timeout: 30_000 };

/** PEP 503 name normalisation. */
export function normalizeName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

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
   * Stores an artifact's extracted facts in one transaction: the release row (status "ok") and
   * its dependency rows, which replace any earlier ones, written by a single multi-row insert.
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
      const { count } = await tx.artifactDependency.createMany({
        data: dependencyRows(input.artifactSha256, input.dependencies),
        skipDuplicates: true,
      });
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
        extra: true,
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
   * Inserts dependency rows with one `create` per row and no transaction. Only for the benchmark
   * that compares it with the single `createMany` of {@link recordExtraction}.
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
