/** An admin request to change upstreams that cannot be applied as asked (maps to 400). */
export class UpstreamInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UpstreamInputError';
  }
}

/** The name is taken, or belongs to an upstream configured in the environment (maps to 409). */
export class UpstreamConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UpstreamConflictError';
  }
}
