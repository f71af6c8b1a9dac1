/** The per-version fields of npm's abbreviated packument (the ones installing needs). */
import { isJsonObject, type JsonObject } from './json-values.js';

/**
 * The version fields the registry keeps in abbreviated metadata (npm/registry's
 * package-metadata.md, plus the ones npm and pnpm read from it since: peerDependenciesMeta,
 * acceptDependencies, os/cpu/libc, funding, license, deprecated, hasInstallScript).
 */
export const ABBREVIATED_VERSION_FIELDS = [
  'name',
  'version',
  'deprecated',
  'dependencies',
  'optionalDependencies',
  'devDependencies',
  'bundleDependencies',
  'bundledDependencies',
  'peerDependencies',
  'peerDependenciesMeta',
  'acceptDependencies',
  'bin',
  'directories',
  'dist',
  'engines',
  'os',
  'cpu',
  'libc',
  'funding',
  'license',
  '_hasShrinkwrap',
] as const;

/** The `dist` fields kept. */
export const ABBREVIATED_DIST_FIELDS = ['tarball', 'integrity', 'shasum', 'fileCount', 'unpackedSize', 'signatures', 'attestations'] as const;

const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall'];

/** Whether installing the version runs a script: npm decides from this flag without reading `scripts`. */
function hasInstallScript(manifest: JsonObject): boolean {
  if (manifest['hasInstallScript'] === true) return true;
  const scripts = manifest['scripts'];
  return isJsonObject(scripts) && INSTALL_SCRIPTS.some((name) => typeof scripts[name] === 'string');
}

function pick(object: JsonObject, fields: readonly string[]): JsonObject {
  const picked: JsonObject = {};
  for (const field of fields) if (object[field] !== undefined) picked[field] = object[field];
  return picked;
}

/** A full version manifest reduced to the abbreviated fields. */
export function abbreviatedManifest(manifest: JsonObject): JsonObject {
  const abbreviated = pick(manifest, ABBREVIATED_VERSION_FIELDS);
  if (isJsonObject(abbreviated['dist'])) abbreviated['dist'] = pick(abbreviated['dist'], ABBREVIATED_DIST_FIELDS);
  if (hasInstallScript(manifest)) abbreviated['hasInstallScript'] = true;
  return abbreviated;
}
