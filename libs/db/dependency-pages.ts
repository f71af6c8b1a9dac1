/**
 * Bounded, keyset-paginated reads of the dependency graph for the JSON API. Every query here
 * returns at most `limit + 1` rows (the extra one says whether there is a next page), whatever the
 * number of rows stored; pages continue from the last key seen, never by OFFSET.
 */
import type { ProtocolAdapter } from '../protocol/index.js';
import type { ArtifactDependency, PrismaClient, Release } from './client.js';

/** What the graph's reads need of the releases' protocol: canonical names and the version order. */
export type ReleaseProtocol = Pick<ProtocolAdapter, 'name' | 'normalizeName' | 'compareVersions'>;

/** A page of rows, and whether more follow the last one. */
export interface Page<T> {
  items: T[];
  more: boolean;
}

/** An artifact of a release, without its requirements. */
export interface ReleaseArtifact {
  release: Release;
  filename: string;
}

/** Where a page of a release's requirements starts: after this row. */
export interface ReleaseRowKey {
  filename: string;
  artifactSha256: string;
  id: bigint;
}

/** A requirement's columns as declared, without the artifact and the required project's name. */
type DeclaredRequirement = Pick<ArtifactDependency, 'specifier' | 'extras' | 'marker' | 'url' | 'extra' | 'kind' | 'raw'>;

/** One entry of the dependents list: a requiring release, one requirement, the artifacts declaring it. */
export interface DependentEntry extends DeclaredRequirement {
  project: string;
  version: string;
  artifacts: Array<{ sha256: string; filename: string }>;
}

/** Where a page of dependents starts: after this entry. */
export interface DependentKey {
  project: string;
  version: string;
  raw: string;
}

/** One artifact's requirements in declared order, after `afterId`. */
export async function artifactDependencyPage(prisma: PrismaClient, artifactSha256: string, afterId: bigint | undefined, limit: number): Promise<Page<ArtifactDependency>> {
  const rows = await prisma.artifactDependency.findMany({
    where: { artifactSha256, ...(afterId === undefined ? {} : { id: { gt: afterId } }) },
    orderBy: { id: 'asc' },
    take: limit + 1,
  });
  return { items: rows.slice(0, limit), more: rows.length > limit };
}

/**
 * The artifacts of `project` at any of `versions` (exact strings), ordered by filename, then sha256
 * (code-point order), without their requirements: one row per cached file of the release.
 */
export async function releaseArtifacts(prisma: PrismaClient, protocol: ReleaseProtocol, project: string, versions: string[]): Promise<ReleaseArtifact[]> {
  const releases = await prisma.release.findMany({
    where: { protocol: protocol.name, project: protocol.normalizeName(project), version: { in: versions } },
    include: { artifact: { select: { filename: true } } },
  });
  return releases
    .map(({ artifact, ...release }) => ({ release, filename: artifact.filename }))
    .sort((a, b) => compareArtifactKeys(a.filename, a.release.artifactSha256, b.filename, b.release.artifactSha256));
}

/**
 * The requirements of `artifacts` (already in page order) as one sequence: each artifact's rows in
 * declared order, artifact after artifact, continuing after `after`. One bounded query per artifact
 * visited.
 */
export async function releaseDependencyPage(
  prisma: PrismaClient,
  artifacts: ReleaseArtifact[],
  after: ReleaseRowKey | undefined,
  limit: number,
): Promise<Page<ArtifactDependency>> {
  const items: ArtifactDependency[] = [];
  for (const { release, filename } of artifacts) {
    const position = after ? compareArtifactKeys(filename, release.artifactSha256, after.filename, after.artifactSha256) : 1;
    if (position < 0) continue;
    const afterId = position === 0 ? after!.id : undefined;
    const page = await artifactDependencyPage(prisma, release.artifactSha256, afterId, limit - items.length);
    items.push(...page.items);
    if (page.more) return { items, more: true };
    if (items.length === limit) return { items, more: await hasRowsAfter(prisma, artifacts, release.artifactSha256) };
  }
  return { items, more: false };
}

async function hasRowsAfter(prisma: PrismaClient, artifacts: ReleaseArtifact[], lastSha256: string): Promise<boolean> {
  const index = artifacts.findIndex((a) => a.release.artifactSha256 === lastSha256);
  const later = artifacts.slice(index + 1).map((a) => a.release.artifactSha256);
  if (later.length === 0) return false;
  return (await prisma.artifactDependency.findFirst({ where: { artifactSha256: { in: later } }, select: { id: true } })) !== null;
}

/** For each of `raws`, the artifacts among `artifactSha256s` that declare it. */
export async function declaringArtifacts(prisma: PrismaClient, artifactSha256s: string[], raws: string[]): Promise<Map<string, Set<string>>> {
  const found = new Map<string, Set<string>>();
  if (artifactSha256s.length === 0 || raws.length === 0) return found;
  const rows = await prisma.artifactDependency.findMany({
    where: { artifactSha256: { in: artifactSha256s }, raw: { in: raws } },
    select: { artifactSha256: true, raw: true },
  });
  for (const row of rows) {
    let shas = found.get(row.raw);
    if (!shas) found.set(row.raw, (shas = new Set()));
    shas.add(row.artifactSha256);
  }
  return found;
}

/**
 * The cached releases requiring `name` (normalised), one entry per requiring release and
 * requirement, ordered by project, then the protocol's version order, then raw requirement (code-point
 * order), continuing after `after`. Version order cannot be expressed in SQL, so a page is read in three
 * bounded steps: the next `limit + 2` requiring projects, their requiring versions (sorted here),
 * and the entries of the first `limit + 2` (project, version) pairs from SQL in that order. Each
 * pair has at least one entry and only the pair of `after` may have none left, so that many pairs
 * always fill a page.
 */
export async function dependentsPage(prisma: PrismaClient, protocol: ReleaseProtocol, name: string, after: DependentKey | undefined, limit: number): Promise<Page<DependentEntry>> {
  const required = protocol.normalizeName(name);
  const window = limit + 2;
  const projects = await prisma.$queryRaw<Array<{ project: string }>>`
    SELECT DISTINCT r.project COLLATE "C" AS project
    FROM artifact_dependency d JOIN release r ON r.artifact_sha256 = d.artifact_sha256
    WHERE d.name = ${required} AND r.protocol = ${protocol.name} AND (${after?.project ?? null}::text IS NULL OR r.project COLLATE "C" >= ${after?.project ?? null})
    ORDER BY 1 LIMIT ${window}`;
  if (projects.length === 0) return { items: [], more: false };
  const pairs = await prisma.$queryRaw<Array<{ project: string; version: string }>>`
    SELECT DISTINCT r.project, r.version
    FROM artifact_dependency d JOIN release r ON r.artifact_sha256 = d.artifact_sha256
    WHERE d.name = ${required} AND r.protocol = ${protocol.name} AND r.project = ANY(${projects.map((p) => p.project)}::text[])`;
  const ordered = pairs
    .sort((a, b) => byText(a.project, b.project) || protocol.compareVersions(a.version, b.version))
    .filter((p) => !after || p.project !== after.project || protocol.compareVersions(p.version, after.version) >= 0)
    .slice(0, window);
  if (ordered.length === 0) return { items: [], more: false };
  const first = ordered[0]!;
  const afterRaw = after && first.project === after.project && first.version === after.version ? after.raw : null;
  const rows = await prisma.$queryRaw<Array<DependentEntryRow>>`
    SELECT g.project, g.version, g.raw, g.shas, g.filenames, d.specifier, d.extras, d.marker, d.url, d.extra, d.kind
    FROM (
      SELECT k.pos, k.project, k.version, d.raw, min(d.id) AS first_id,
        array_agg(d.artifact_sha256::text ORDER BY a.filename COLLATE "C", d.artifact_sha256) AS shas,
        array_agg(a.filename ORDER BY a.filename COLLATE "C", d.artifact_sha256) AS filenames
      FROM unnest(${ordered.map((p) => p.project)}::text[], ${ordered.map((p) => p.version)}::text[]) WITH ORDINALITY AS k(project, version, pos)
      JOIN release r ON r.protocol = ${protocol.name} AND r.project = k.project AND r.version = k.version
      JOIN artifact_dependency d ON d.artifact_sha256 = r.artifact_sha256 AND d.name = ${required}
      JOIN artifact a ON a.sha256 = r.artifact_sha256
      WHERE k.pos > 1 OR ${afterRaw}::text IS NULL OR d.raw COLLATE "C" > ${afterRaw}
      GROUP BY k.pos, k.project, k.version, d.raw
      ORDER BY k.pos, d.raw COLLATE "C"
      LIMIT ${limit + 1}
    ) g JOIN artifact_dependency d ON d.id = g.first_id
    ORDER BY g.pos, g.raw COLLATE "C"`;
  const items = rows.slice(0, limit).map(({ shas, filenames, ...entry }) => ({
    ...entry,
    artifacts: shas.map((sha256, i) => ({ sha256, filename: filenames[i]! })),
  }));
  return { items, more: rows.length > limit };
}

/** A row of the entries query: exactly the columns it selects, the declaring artifacts as two parallel arrays. */
interface DependentEntryRow extends DeclaredRequirement {
  project: string;
  version: string;
  shas: string[];
  filenames: string[];
}

/** Artifact order of a release's pages: filename, then sha256, in code-point order. */
export function compareArtifactKeys(filenameA: string, shaA: string, filenameB: string, shaB: string): number {
  return byText(filenameA, filenameB) || byText(shaA, shaB);
}

/** Code-point order, as PostgreSQL's "C" collation: the same answer whatever the server's locale. */
function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
