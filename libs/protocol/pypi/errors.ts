/**
 * Error signals of the PyPI protocol functions. Each carries a stable `code` so callers can map
 * them (e.g. an unparsable upstream page is a 502, a bad METADATA fails the extract job for good).
 */

/** The body is not plausibly a PEP 503/691 page: the protocol-neutral signal, so services can map it. */
export { MalformedPageError } from '../errors.js';

/** METADATA/PKG-INFO that cannot be used (missing Name/Version, too large). */
export class MetadataError extends Error {
  readonly code = 'BAD_METADATA';
  constructor(readonly reason: string) {
    super(`invalid core metadata: ${reason}`);
    this.name = 'MetadataError';
  }
}

/** A requirement string that is not valid PEP 508. */
export class RequirementError extends Error {
  readonly code = 'BAD_REQUIREMENT';
  constructor(
    readonly reason: string,
    readonly requirement: string,
  ) {
    super(`invalid requirement ${JSON.stringify(requirement)}: ${reason}`);
    this.name = 'RequirementError';
  }
}

/** A marker that cannot be parsed, or cannot be evaluated in the given environment. */
export class MarkerError extends Error {
  readonly code = 'BAD_MARKER';
  constructor(
    readonly reason: string,
    readonly marker: string,
  ) {
    super(`invalid marker ${JSON.stringify(marker)}: ${reason}`);
    this.name = 'MarkerError';
  }
}
