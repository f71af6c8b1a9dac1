/** PEP 503 / PEP 508 project names. */

/** Longest project name accepted; PyPI's longest real names are well under this. */
export const MAX_PROJECT_NAME_LENGTH = 200;

const VALID_NAME = /^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$/i;
const NORMALIZED_NAME = /^([a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])$/;

/** PEP 503 normalisation: runs of `-`, `_`, `.` become one `-`, then lower case. */
export function normalizeName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

/** True when `name` is a valid PEP 508 project name no longer than {@link MAX_PROJECT_NAME_LENGTH}. */
export function isValidProjectName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_PROJECT_NAME_LENGTH && VALID_NAME.test(name);
}

/** True when `name` is valid and already in PEP 503 normalised form. */
export function isNormalized(name: string): boolean {
  return name.length <= MAX_PROJECT_NAME_LENGTH && NORMALIZED_NAME.test(name) && !name.includes('--');
}

/** PEP 685 extra-name normalisation (same rule as project names). */
export function normalizeExtra(extra: string): string {
  return normalizeName(extra);
}
