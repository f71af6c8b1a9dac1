import type { Request } from 'express';
import { UpstreamConflictError, UpstreamInputError } from '../../../libs/upstreams/index.js';
import { ViewConflictError, ViewInputError } from '../../../libs/views/index.js';
import { HttpError, badRequest } from '../http-errors.js';

/** The body of an admin request, refused (415) unless it was sent as JSON. */
export function jsonBody(req: Request): unknown {
  if (!req.is('application/json')) throw new HttpError(415, 'unsupported_media_type', 'send the body as application/json');
  return req.body;
}

/** Runs an admin change: input it cannot take is a 400, a clash with the configuration or a taken name a 409. */
export async function adminCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof UpstreamInputError || err instanceof ViewInputError) throw badRequest(err.message);
    if (err instanceof UpstreamConflictError || err instanceof ViewConflictError) throw new HttpError(409, 'conflict', err.message);
    throw err;
  }
}
