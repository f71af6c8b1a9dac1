/**
 * Permanent failures of archive reading. Both mean "retrying will not help": the extractor records
 * `ArchiveError` as a failed extraction (malformed archive) and `UnsupportedArchiveError` as an
 * unsupported one, with `reason` shown to users.
 */

/** The archive is malformed, hostile or lacks its core-metadata file. */
export class ArchiveError extends Error {
  override readonly name = 'ArchiveError';

  /** A short human reason, e.g. "not a zip file" or "no .dist-info/METADATA". */
  readonly reason: string;

  constructor(reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.reason = reason;
  }
}

/** The archive format is valid but one Orchard does not read (e.g. `.tar.bz2`, `.tar.xz`). */
export class UnsupportedArchiveError extends Error {
  override readonly name = 'UnsupportedArchiveError';

  /** A short human reason, e.g. "bzip2-compressed sdists are not supported". */
  readonly reason: string;

  constructor(reason: string) {
    super(reason);
    this.reason = reason;
  }
}
