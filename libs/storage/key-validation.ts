import { InvalidBlobKeyError } from './errors.js';

const ALLOWED = /^[A-Za-z0-9._/-]+$/;
const MAX_KEY_LENGTH = 1024;

/**
 * Throws {@link InvalidBlobKeyError} unless `key` is a plain relative path: characters from
 * `[A-Za-z0-9._/-]` only, no leading or trailing `/`, no empty segment, and no segment starting with
 * `.` (which rules out `.`, `..` and the stores' own hidden working directories such as `.tmp`).
 */
export function assertValidKey(key: string): void {
  if (key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw new InvalidBlobKeyError(key, `length must be 1..${MAX_KEY_LENGTH}`);
  }
  if (!ALLOWED.test(key)) throw new InvalidBlobKeyError(key, 'only [A-Za-z0-9._/-] allowed');
  for (const segment of key.split('/')) {
    if (segment === '') throw new InvalidBlobKeyError(key, 'empty path segment or absolute path');
    if (segment.startsWith('.')) throw new InvalidBlobKeyError(key, 'path segment starts with "."');
  }
}
