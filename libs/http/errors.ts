import { errors as undiciErrors } from 'undici';
import { DeniedAddressError } from './address-policy.js';

/** Why an upstream request failed, in terms the gateway maps to a status and a one-line reason. */
export type UpstreamFailure =
  | 'unreachable'
  | 'timeout'
  | 'status'
  | 'too-many-redirects'
  | 'invalid-redirect'
  /** The upstream answered, but with a body Orchard cannot use (malformed or too large). */
  | 'invalid-response'
  /** The address is private and refused by the address policy (never connected to). */
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
  if (denied?.scope === 'upstream-origin') {
    return new UpstreamError('denied', `upstream ${upstream}: refused to connect, ${denied.message} (ORCHARD_DENY_PRIVATE_NETWORKS)`, undefined, { cause: err });
  }
  if (denied) {
    // The host came from a page or a redirect: say nothing about what it resolved to.
    return new UpstreamError('denied', `upstream ${upstream}: refused, a file URL or redirect points at a private or loopback address`, undefined, { cause: err });
  }
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

/** The DeniedAddressError somewhere in an error's cause chain. */
function deniedAddress(err: unknown): DeniedAddressError | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof DeniedAddressError) return e;
  }
  return undefined;
}

/**
 * The failure for a file request that ended in an error status, with a message safe to show a
 * client: the status itself when the upstream's own origin answered; only its class when another
 * origin (a file host a page or redirect pointed at) did, so Orchard cannot be used to probe what
 * answers where.
 */
export function statusError(upstream: { name: string; url: string }, answeredUrl: string, status: number, filename: string): UpstreamError {
  const own = new URL(answeredUrl).origin === new URL(upstream.url).origin;
  const what = own ? `upstream ${upstream.name} answered ${status}` : `the file host of upstream ${upstream.name} answered an error (${Math.floor(status / 100)}xx)`;
  return new UpstreamError('status', `${what} for ${filename}`, status);
}
