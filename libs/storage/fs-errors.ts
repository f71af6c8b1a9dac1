import { StorageUnavailableError } from './errors.js';

// Errors that say the disk (not the caller's body stream or arguments) is failing.
const DISK_ERROR_CODES = new Set(['EIO', 'EACCES', 'EPERM', 'ENOSPC', 'EDQUOT', 'EROFS', 'EMFILE', 'ENFILE', 'EBUSY', 'ENOTDIR', 'EISDIR', 'ENOENT', 'EEXIST', 'ESTALE']);

/** The `code` of a Node.js system error, if it is one. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const { code } = error as { code: unknown };
  return typeof code === 'string' ? code : undefined;
}

/** True for the errors that mean "no such file" when reading a key. */
export function isMissingFileError(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Turns disk errors into {@link StorageUnavailableError}; anything else (hash mismatch, abort, body errors) passes through. */
export function toFsStorageError(error: unknown, action: string): unknown {
  const code = errorCode(error);
  if (code !== undefined && DISK_ERROR_CODES.has(code)) {
    const message = error instanceof Error ? error.message : String(error);
    return new StorageUnavailableError(`local storage ${action} failed: ${message}`, { cause: error });
  }
  return error;
}
