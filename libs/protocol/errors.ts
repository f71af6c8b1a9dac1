/**
 * Protocol-neutral error signals. Implementations throw these (or subclasses), so services map them
 * without knowing which protocol raised them.
 */

/** An upstream body that is not plausibly a page of the protocol (binary data, wrong shape, unsupported version). */
export class MalformedPageError extends Error {
  readonly code = 'MALFORMED_PAGE';
  constructor(readonly reason: string) {
    super(`malformed index page: ${reason}`);
    this.name = 'MalformedPageError';
  }
}

/**
 * A stored artifact whose metadata cannot be extracted, and never will be: retrying does not help.
 * `unsupported` is a format the protocol does not read; `failed` a broken or hostile file.
 */
export class ArtifactMetadataError extends Error {
  readonly code = 'ARTIFACT_METADATA';
  constructor(
    readonly status: 'failed' | 'unsupported',
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
    this.name = 'ArtifactMetadataError';
  }
}

/** Query parameters of a dependency evaluation that the protocol cannot use (unknown, repeated, bad value). */
export class EnvironmentQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvironmentQueryError';
  }
}

/** A protocol name no registered protocol answers to (a queue payload from another build, a stored row). */
export class UnknownProtocolError extends Error {
  readonly code = 'UNKNOWN_PROTOCOL';
  constructor(readonly protocol: string) {
    super(`unknown protocol ${JSON.stringify(protocol)}`);
    this.name = 'UnknownProtocolError';
  }
}
