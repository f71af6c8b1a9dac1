import type { ErrorRequestHandler } from 'express';
import type { Logger } from '../../libs/log/index.js';

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
 * The one error handler: known errors map to their status and one-line reason; anything else is a
 * generic 500 with the request id, logged in detail and never leaked.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const requestId = String(res.getHeader('x-request-id') ?? '');
    let status = 500;
    let message = `internal error (request ${requestId})`;
    let headers: Record<string, string> = {};
    if (err instanceof HttpError) {
      ({ status, message, headers } = err);
    } else if (isBodyParserError(err)) {
      status = err.status;
      message = err.type === 'entity.too.large' ? 'request body too large' : 'malformed request body';
    } else {
      logger.error({ err, requestId, method: req.method, path: req.path }, 'unhandled error');
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(status).set(headers).type('text/plain').send(`${message}\n`);
  };
}

function isBodyParserError(err: unknown): err is { status: number; type: string } {
  return typeof err === 'object' && err !== null && 'type' in err && 'status' in err && typeof (err as { status: unknown }).status === 'number';
}
