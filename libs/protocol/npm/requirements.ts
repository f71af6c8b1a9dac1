/** A package.json's dependency fields → Requirements. */
import validateNpmPackageName from 'validate-npm-package-name';
import { ArtifactMetadataError } from '../errors.js';
import type { Requirement } from '../types.js';
import { isJsonObject, type JsonObject } from './json-values.js';

/** Most requirements one package may declare: far past real packages (a few hundred at most). */
export const MAX_REQUIREMENTS = 10_000;

type Kind = NonNullable<Requirement['kind']>;

/**
 * Whether a dependency spec names its source instead of a registry range: `npm:` aliases, URLs
 * (`https:`, `git+ssh:`, `github:`, `file:` …), paths, and GitHub `user/repo` shorthands.
 */
export function isDirectSpec(spec: string): boolean {
  const trimmed = spec.trim();
  if (/^[a-z][a-z0-9+.-]*:/i.test(trimmed)) return true;
  if (/^(\.{1,2}\/|\/|~\/)/.test(trimmed)) return true;
  return /^[^@\s/][^\s/]*\/[^\s/]+$/.test(trimmed);
}

function requirement(field: string, kind: Kind, name: string, spec: string): Requirement {
  const req: Requirement = { raw: `${field}:${name}@${spec}`, name, normalizedName: name, extras: [], specifier: spec, kind };
  if (isDirectSpec(spec)) req.url = spec;
  return req;
}

/** The valid `name → spec` entries of a dependency field; other entries and non-object fields are skipped. */
function dependencyEntries(field: unknown): Array<[string, string]> {
  if (!isJsonObject(field)) return [];
  return Object.entries(field).filter((entry): entry is [string, string] => typeof entry[1] === 'string' && validateNpmPackageName(entry[0]).validForOldPackages);
}

function isOptionalPeer(meta: unknown, name: string): boolean {
  if (!isJsonObject(meta) || !Object.hasOwn(meta, name)) return false;
  const entry = meta[name];
  return isJsonObject(entry) && entry['optional'] === true;
}

/**
 * The requirements of a package.json: `dependencies` (kind `dependency`), `optionalDependencies`
 * (`optional`; a name in both is recorded once, as optional, as npm installs it) and
 * `peerDependencies` (`peer`, or `peer-optional` when peerDependenciesMeta marks it optional).
 * @throws ArtifactMetadataError past {@link MAX_REQUIREMENTS}
 */
export function manifestRequirements(manifest: JsonObject): Requirement[] {
  const optional = dependencyEntries(manifest['optionalDependencies']);
  const optionalNames = new Set(optional.map(([name]) => name));
  const requirements: Requirement[] = [];
  const add = (req: Requirement): void => {
    if (requirements.length >= MAX_REQUIREMENTS) throw new ArtifactMetadataError('failed', `more than ${MAX_REQUIREMENTS} dependencies`);
    requirements.push(req);
  };
  for (const [name, spec] of dependencyEntries(manifest['dependencies'])) {
    if (!optionalNames.has(name)) add(requirement('dependencies', 'dependency', name, spec));
  }
  for (const [name, spec] of optional) add(requirement('optionalDependencies', 'optional', name, spec));
  const peerMeta = manifest['peerDependenciesMeta'];
  for (const [name, spec] of dependencyEntries(manifest['peerDependencies'])) {
    add(requirement('peerDependencies', isOptionalPeer(peerMeta, name) ? 'peer-optional' : 'peer', name, spec));
  }
  return requirements;
}
