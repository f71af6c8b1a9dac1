/**
 * The JSON API's response shapes. Field names here are the stable contract documented in the
 * README ("JSON API"): add fields, never rename or remove them.
 */
import { type ArtifactDependency, type ArtifactFacts, type DependentEntry, type ReleaseArtifact } from '../../../libs/db/index.js';
import type { DependencyEnvironment, ProtocolAdapter } from '../../../libs/protocol/index.js';

/** One requirement as declared by an artifact. */
export interface DependencyView {
  /** PEP 503-normalised name of the required project. */
  name: string;
  /** Version specifier, normalised (`>=1.0,<2`); "" when none. */
  specifier: string;
  /** Extras requested of the required project, as written. */
  extras: string[];
  /** The environment marker as written, or null. */
  marker: string | null;
  /** Direct reference (`name @ url`), or null. */
  url: string | null;
  /** The requiring project's extra (PEP 685-normalised) that activates this requirement, or null. */
  extra: string | null;
  /** npm: `dependency`, `optional`, `peer` or `peer-optional`; null for PyPI's requirements. */
  kind: string | null;
  /** The requirement exactly as declared. */
  raw: string;
}

/** A requirement whose marker the given parameters cannot decide. */
export interface UndeterminedView extends DependencyView {
  /** Marker variables the parameters did not fix. */
  variables: string[];
}

export function dependencyView(d: Pick<ArtifactDependency, 'name' | 'specifier' | 'extras' | 'marker' | 'url' | 'extra' | 'kind' | 'raw'>): DependencyView {
  return { name: d.name, specifier: d.specifier, extras: d.extras, marker: d.marker, url: d.url, extra: d.extra, kind: d.kind, raw: d.raw };
}

/** `GET /api/v1/artifacts/<sha256>`. */
export function artifactView(facts: ArtifactFacts, protocol: Pick<ProtocolAdapter, 'normalizeName'>) {
  const r = facts.release;
  return {
    sha256: facts.sha256,
    filename: facts.filename,
    size: Number(facts.size),
    project: r?.project ?? protocol.normalizeName(facts.project),
    version: r && r.version !== '' ? r.version : null,
    metadataStatus: r?.metadataStatus ?? 'pending',
    metadataError: r?.metadataError ?? null,
    metadataVersion: r?.metadataVersion ?? null,
    metadataSha256: facts.metadataSha256,
    requiresPython: r?.requiresPython ?? null,
    summary: r?.summary ?? null,
    licenseExpression: r?.licenseExpression ?? null,
    providesExtra: r?.providesExtra ?? [],
    dynamic: r?.dynamic ?? [],
    dependenciesKnown: r?.metadataStatus === 'ok' ? r.dependenciesKnown : false,
    extractedAt: r ? r.extractedAt.toISOString() : null,
    dependencies: facts.dependencies.map(dependencyView),
  };
}

/** Splits requirements by their markers' verdict in `env`; without `env`, everything is kept. */
function evaluate(deps: DependencyView[], env: DependencyEnvironment | undefined): { kept: DependencyView[]; undetermined: UndeterminedView[] } {
  if (!env) return { kept: deps, undetermined: [] };
  const kept: DependencyView[] = [];
  const undetermined: UndeterminedView[] = [];
  for (const d of deps) {
    if (d.marker === null) {
      kept.push(d);
      continue;
    }
    const { verdict, missing } = env.evaluate(d.marker);
    if (verdict === true) kept.push(d);
    else if (verdict === 'undetermined') undetermined.push({ ...d, variables: missing });
  }
  return { kept, undetermined };
}

/** One page of a release's requirements, and what the union on this page must leave out. */
export interface ReleasePage {
  /** Every artifact of the release, in page order (filename, then sha256). */
  artifacts: ReleaseArtifact[];
  /** This page's requirement rows, artifact after artifact, each artifact's in declared order. */
  rows: ArtifactDependency[];
  /**
   * Whether a row's `raw` was already declared by a union source ordered before the row's artifact
   * (rows of earlier pages included), so that the union lists each `raw` once over all pages.
   */
  declaredEarlier: (row: ArtifactDependency) => boolean;
}

/** The artifacts whose requirements form a release's union: the known ones, else every extracted one. */
export function unionSources(artifacts: ReleaseArtifact[]): ReleaseArtifact[] {
  const extracted = artifacts.filter((a) => a.release.metadataStatus === 'ok');
  const known = extracted.filter((a) => a.release.dependenciesKnown);
  return known.length > 0 ? known : extracted;
}

/**
 * `GET /api/v1/projects/<name>/versions/<version>/dependencies`, one page: every artifact with its
 * requirements on this page, and the union's part on this page.
 */
export function releaseDependenciesView(project: string, version: string, page: ReleasePage, env: DependencyEnvironment | undefined) {
  const byArtifact = new Map<string, DependencyView[]>();
  for (const row of page.rows) {
    let list = byArtifact.get(row.artifactSha256);
    if (!list) byArtifact.set(row.artifactSha256, (list = []));
    list.push(dependencyView(row));
  }
  const artifacts = page.artifacts.map(({ release, filename }) => {
    const { kept, undetermined } = evaluate(byArtifact.get(release.artifactSha256) ?? [], env);
    return {
      sha256: release.artifactSha256,
      filename,
      version: release.version,
      metadataStatus: release.metadataStatus,
      metadataError: release.metadataError,
      dependenciesKnown: release.metadataStatus === 'ok' && release.dependenciesKnown,
      requiresPython: release.requiresPython,
      dependencies: kept,
      ...(env ? { undetermined } : {}),
    };
  });
  const sources = new Set(unionSources(page.artifacts).map((a) => a.release.artifactSha256));
  const seen = new Set<string>();
  const union: DependencyView[] = [];
  for (const row of page.rows) {
    if (!sources.has(row.artifactSha256) || seen.has(row.raw) || page.declaredEarlier(row)) continue;
    seen.add(row.raw);
    union.push(dependencyView(row));
  }
  const { kept, undetermined } = evaluate(union, env);
  return {
    project,
    version,
    environment: env ? env.description : null,
    dependenciesKnown: artifacts.some((a) => a.dependenciesKnown),
    dependencies: kept,
    ...(env ? { undetermined } : {}),
    artifacts,
  };
}

/** `GET /api/v1/projects/<name>/dependents`, one page: one entry per requiring release and requirement. */
export function dependentsView(project: string, entries: DependentEntry[]) {
  return {
    project,
    dependents: entries.map((e) => ({ project: e.project, version: e.version, ...dependencyView({ ...e, name: project }), artifacts: e.artifacts })),
  };
}
