import { errors as undiciErrors } from 'undici';

/** Why an upstream request failed, in terms the gateway maps to a status and a one-line reason. */
export type UpstreamFailure =
  | 'unreachable'
  | 'timeout'
  | 'status'
  | 'too-many-redirects'
  | 'invalid-redirect'
  /** The upstream answered, but with a body Orchard cannot use (malformed or too large). */
  | 'invalid-response'
  /** The address is refused by ORCHARD_DENY_PRIVATE_NETWORKS (never connected to). */
  | 'denied';

/**
 * An upstream request that failed. Messages name the upstream, never its URL or credentials, so
 * they are safe to log and to show a client.
 */
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

/**
 * Maps an error thrown while talking to an upstream (connecting, waiting for headers, reading the
 * body) to an UpstreamError naming only the upstream. Aborts by the caller pass through unchanged.
 */
export function asUpstreamError(err: unknown, upstream: string): Error {
  if (err instanceof UpstreamError) return err;
  if (err instanceof Error && (err.name === 'AbortError' || err instanceof undiciErrors.RequestAbortedError)) return err;
  const denied = deniedAddress(err);
  if (denied) return new UpstreamError('denied', `upstream ${upstream}: refused to connect, ${denied.message} (ORCHARD_DENY_PRIVATE_NETWORKS)`, undefined, { cause: err });
  if (
    err instanceof undiciErrors.ConnectTimeoutError ||
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError ||
    (err instanceof Error && err.name === 'TimeoutError')
  ) {
    return new UpstreamError('timeout', `upstream ${upstream} timed out`, undefined, { cause: err });
  }
  return new UpstreamError('unreachable', `upstream ${upstream} is unreachable`, undefined, { cause: err });
}

/** The DeniedAddressError (code ORCHARD_DENIED_ADDRESS) somewhere in an error's cause chain. */
function deniedAddress(err: unknown): Error | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if ((e as { code?: unknown }).code === 'ORCHARD_DENIED_ADDRESS') return e;
  }
  return undefined;
}
