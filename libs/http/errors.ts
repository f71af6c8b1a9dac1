/** Why an upstream request failed, in terms the gateway maps to a status and a one-line reason. */
export type UpstreamFailure = 'unreachable' | 'timeout' | 'status' | 'too-many-redirects' | 'invalid-redirect';

export class UpstreamError extends Error {
  constructor(
    readonly failure: UpstreamFailure,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'UpstreamError';
  }

  /** Worth retrying later: network trouble and 5xx (not 404 or other 4xx). */
  get transient(): boolean {
    if (this.failure === 'status') return this.status !== undefined && (this.status >= 500 || this.status === 429);
    return this.failure === 'unreachable' || this.failure === 'timeout';
  }
}
