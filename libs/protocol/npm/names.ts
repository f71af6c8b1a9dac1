/** npm package names: validity, the canonical spelling, and the parts file names are made of. */
import validateNpmPackageName from 'validate-npm-package-name';

/** The registry's limit; validate-npm-package-name only warns past it (for old packages). */
export const MAX_NAME_LENGTH = 214;

const ENCODED_SCOPED_NAME = /^(@[^/%]+)%2f(.+)$/i;

/**
 * The canonical form of a package name. npm names are case-sensitive, so this is the identity,
 * except that a scoped name sent as `@scope%2fname` (how clients put it in one path segment) is
 * decoded to `@scope/name`.
 */
export function normalizeName(name: string): string {
  const encoded = ENCODED_SCOPED_NAME.exec(name);
  return encoded ? `${encoded[1]}/${encoded[2]}` : name;
}

/**
 * Whether a package name (either spelling of a scoped one) is one the registry holds or held:
 * legacy names such as `JSONStream` pass, names that are not URL-safe or longer than
 * {@link MAX_NAME_LENGTH} do not.
 */
export function isValidProjectName(name: string): boolean {
  const normalized = normalizeName(name);
  return normalized.length <= MAX_NAME_LENGTH && validateNpmPackageName(normalized).validForOldPackages;
}

/** The name without its scope: `@types/node` → `node`, as npm names tarballs. */
export function unscopedName(name: string): string {
  return name.startsWith('@') ? name.slice(name.indexOf('/') + 1) : name;
}

/**
 * The upstream URL of a package's packument: the base URL (with a trailing slash) and the name,
 * a scoped name's slash encoded as the registry expects (`@types%2fnode`).
 */
export function projectPageUrl(upstreamUrl: string, project: string): string {
  const base = upstreamUrl.endsWith('/') ? upstreamUrl : `${upstreamUrl}/`;
  const name = normalizeName(project);
  return base + (name.startsWith('@') ? name.replace('/', '%2f') : name);
}
