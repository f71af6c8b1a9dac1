import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorRequestHandler } from 'express';
import { isDatabaseClientError, isDatabaseUnavailable } from '../../libs/db/index.js';
import { UpstreamError } from '../../libs/http/index.js';
import type { Logger } from '../../libs/log/index.js';
import { BodyTooLargeError } from '../../libs/pages/index.js';
import { MalformedPageError } from '../../libs/protocol/index.js';
import { StorageUnavailableError } from '../../libs/storage/index.js';
import { cutOff } from './body-delivery.js';

/** An error with a status and a short reason safe to show the client. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const notFound = (message: string) => new HttpError(404, 'not_found', message);
export const badRequest = (message: string) => new HttpError(400, 'bad_request', message);

/**
 * Known failures of the parts below the routes, as the client sees them. Each is somebody else's
 * fault, never the client's, but not Orchard's own bug either:
 * - storage unreachable → 503 (retry later; /ready says the same);
 * - PostgreSQL unreachable or not migrated yet → 503 (the JSON and admin APIs need it);
 * - an upstream unreachable or answering an error → 502, timing out → 504;
 * - an upstream page the protocol cannot read, or one too large → 502 with the reason.
 * The messages carry no URL and no credential (UpstreamError messages name the upstream only).
 */
export function toHttpError(err: unknown): HttpError | undefined {
  if (err instanceof HttpError) return err;
  if (err instanceof StorageUnavailableError) {
    return new HttpError(503, 'storage_unavailable', 'storage is unavailable right now; retry later', { 'Retry-After': '5' });
  }
  if (isDatabaseClientError(err) && isDatabaseUnavailable(err)) {
    return new HttpError(503, 'database_unavailable', 'the database is unavailable right now; retry later', { 'Retry-After': '10' });
  }
  if (err instanceof UpstreamError) {
    return new HttpError(err.failure === 'timeout' ? 504 : 502, 'upstream_failed', oneLine(err.message));
  }
  if (err instanceof MalformedPageError) return new HttpError(502, 'upstream_malformed', `upstream answered a ${oneLine(err.message)}`);
  if (err instanceof BodyTooLargeError) return new HttpError(502, 'upstream_too_large', oneLine(err.message));
  if (isClientError(err)) {
    // Raised by express itself (undecodable %-escapes in a path parameter, body parsers).
    const message = err.type === 'entity.too.large' ? 'request body too large' : err.status === 400 ? 'malformed request' : 'request refused';
    return new HttpError(err.status, 'bad_request', message);
  }
  return undefined;
}

/**
 * The one error handler (express's, and the read path's through {@link answerError}): known errors
 * map to their status and one-line reason; anything else is a generic 500 with the request id,
 * logged in detail and never leaked.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => answerError(req, res, err, logger);
}

/** An error body in a protocol's own shape (see `ProtocolAdapter.errorBody`); absent: plain text. */
export type ErrorShape = (status: number, message: string) => { contentType: string; body: string };

/** Answers a request that failed with `err` (or cuts it off when its headers are already out). */
export function answerError(req: IncomingMessage, res: ServerResponse, err: unknown, logger: Logger, shape?: ErrorShape): void {
  const requestId = String(res.getHeader('x-request-id') ?? '');
  const path = (req.url ?? '').split('?', 1)[0];
  let status = 500;
  let message = `internal error (request ${requestId})`;
  let headers: Record<string, string> = {};
  const known = toHttpError(err);
  if (known) {
    ({ status, message, headers } = known);
    if (status >= 500) logger.warn({ requestId, method: req.method, path, status, reason: message }, 'request failed');
  } else {
    logger.error({ err, requestId, method: req.method, path }, 'unhandled error');
  }
  if (res.headersSent) {
    cutOff(res, status);
    return;
  }
  // A handler may have set the headers of the file it meant to send (ETag, an immutable
  // Cache-Control): an error must not carry them, nor be cached.
  for (const name of REPRESENTATION_HEADERS) res.removeHeader(name);
  const shaped = shape?.(status, message);
  const body = Buffer.from(shaped ? shaped.body : `${message}\n`);
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Type', shaped ? shaped.contentType : 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', String(body.length));
  res.end(req.method === 'HEAD' ? undefined : body);
}

const REPRESENTATION_HEADERS = ['ETag', 'Last-Modified', 'Cache-Control', 'Content-Disposition', 'Content-Encoding', 'Content-Length', 'Content-Range', 'Accept-Ranges'];

/** An error express or a body parser raised with a 4xx status (`status`/`statusCode`, optional `type`). */
function isClientError(err: unknown): err is { status: number; type?: string } {
  if (typeof err !== 'object' || err === null) return false;
  const status = (err as { status?: unknown; statusCode?: unknown }).status ?? (err as { statusCode?: unknown }).statusCode;
  if (typeof status !== 'number' || status < 400 || status > 499) return false;
  (err as { status: number }).status = status;
  return true;
}

function oneLine(message: string): string {
  return message.split('\n')[0]!.slice(0, 300);
}
