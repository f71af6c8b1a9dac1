import { expect } from 'vitest';
import { ArchiveError } from '../../libs/protocol/pypi/archive/index.js';

/** The reason an archive reader's promise was refused with; fails the test unless it is an ArchiveError. */
export async function archiveErrorReason(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ArchiveError);
  return (err as ArchiveError).reason;
}
