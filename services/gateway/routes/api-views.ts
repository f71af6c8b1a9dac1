/**
 * The JSON API's response shapes. Field names here are the stable contract documented in the
 * README ("JSON API"): add fields, never rename or remove them.
 */
import { normalizeName } from '../../../libs/protocol/pypi/index.js';
import { compare, valid } from '@renovatebot/pep440';
import { type ArtifactDependency, type ArtifactFacts, type DependentRow, type ReleaseDependencies } from '../../../libs/db/index.js';
import { evaluateInEnvironment, type Environment } from './api-evaluate.js';

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
  /** The requirement exactly as declared. */
  raw: string;
}

/** A requirement whose marker the given parameters cannot decide. */
export interface UndeterminedView extends DependencyView {
  /** Marker variables the parameters did not fix. */
  variables: string[];
}

export function dependencyView(d: Pick<ArtifactDependency, 'name' | 'specifier' | 'extras' | 'marker' | 'url' | 'extra' | 'raw'>): DependencyView {
  return { name: d.name, specifier: d.specifier, extras: d.extras, marker: d.marker, url: d.url, extra: d.extra, raw: d.raw };
}

/** `GET /api/v1/artifacts/<sha256>`. */
export function artifactView(facts: ArtifactFacts) {
  const r = facts.release;
  return {
    sha256: facts.sha256,
    filename: facts.filename,
    size: Number(facts.size),
    project: r?.project ?? normalizeName(facts.project),
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
function evaluate(deps: DependencyView[], env: Environment | undefined): { kept: DependencyView[]; undetermined: UndeterminedView[] } {
  if (!env) return { kept: deps, undetermined: [] };
  const kept: DependencyView[] = [];
  const undetermined: UndeterminedView[] = [];
  for (const d of deps) {
    if (d.marker === null) {
      kept.push(d);
      continue;
    }
    const { verdict, missing } = evaluateInEnvironment(d.marker, env);
    if (verdict === true) kept.push(d);
    else if (verdict === 'undetermined') undetermined.push({ ...d, variables: missing });
  }
  return { kept, undetermined };
}

/** Requirements of several artifacts, each `raw` once, in first-seen order. */
function union<T extends DependencyView>(lists: T[][]): T[] {
  const seen = new Map<string, T>();
  for (const list of lists) for (const d of list) if (!seen.has(d.raw)) seen.set(d.raw, d);
  return [...seen.values()];
}

/** `GET /api/v1/projects/<name>/versions/<version>/dependencies`. */
export function releaseDependenciesView(project: string, version: string, releases: ReleaseDependencies[], env: Environment | undefined) {
  const artifacts = releases.map(({ release, filename, dependencies }) => {
    const { kept, undetermined } = evaluate(dependencies.map(dependencyView), env);
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
  const extracted = artifacts.filter((a) => a.metadataStatus === 'ok');
  const known = extracted.filter((a) => a.dependenciesKnown);
  const sources = known.length > 0 ? known : extracted;
  return {
    project,
    version,
    environment: env ? { ...env.variables, extras: env.extras } : null,
    dependenciesKnown: known.length > 0,
    dependencies: union(sources.map((a) => a.dependencies)),
    ...(env ? { undetermined: union(sources.map((a) => a.undetermined ?? [])) } : {}),
    artifacts,
  };
}

/** `GET /api/v1/projects/<name>/dependents`: one entry per requiring release and requirement. */
export function dependentsView(project: string, rows: DependentRow[]) {
  const groups = new Map<string, DependencyView & { project: string; version: string; artifacts: Array<{ sha256: string; filename: string }> }>();
  for (const row of rows) {
    const key = JSON.stringify([row.project, row.version, row.raw]);
    let group = groups.get(key);
    if (!group) {
      group = { project: row.project, version: row.version, ...dependencyView({ ...row, name: project }), artifacts: [] };
      groups.set(key, group);
    }
    group.artifacts.push({ sha256: row.artifactSha256, filename: row.filename });
  }
  const dependents = [...groups.values()].sort((a, b) => byText(a.project, b.project) || compareVersions(a.version, b.version) || byText(a.raw, b.raw));
  return { project, dependents };
}

/** PEP 440 order where both are valid versions; text order otherwise (invalid after valid). */
function compareVersions(a: string, b: string): number {
  const va = valid(a) !== null;
  const vb = valid(b) !== null;
  if (va && vb) return compare(a, b);
  if (va !== vb) return va ? -1 : 1;
  return byText(a, b);
}

/** Code-point order: the same answer whatever the server's locale. */
export function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
