import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import { withLogContext, type Logger } from '../../libs/log/index.js';
import { methodLabel, statusClass, type Metrics } from '../../libs/metrics/index.js';
import { finalStatus, trackBodyDelivery } from './body-delivery.js';

const SAFE_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The request id: the client's `X-Request-Id` when sane, else a fresh one. */
export function requestId(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && SAFE_ID.test(incoming) ? incoming : randomUUID();
}

/**
 * Counts and logs one request when its response closes: route-labelled metrics and one access log
 * line. 'close' fires for finished and abandoned responses alike: a response whose whole body went
 * out counts with its own status even when the client closed at once; one the client left before
 * its body was complete counts as 499 (nginx's "client closed request"); one the gateway cut off
 * counts with the failure's status (see {@link finalStatus}). Shared by the express middleware and
 * the gateway's fast path, so both report alike.
 */
export function recordRequest(
  logger: Logger,
  metrics: Metrics,
  req: IncomingMessage,
  res: ServerResponse,
  id: string,
  path: () => string,
  route: () => string,
): void {
  const started = process.hrtime.bigint();
  trackBodyDelivery(res);
  res.once('close', () => {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const method = methodLabel(req.method ?? 'GET');
    const status = finalStatus(res);
    const label = route();
    metrics.httpRequests.inc({ route: label, method, status: String(status) });
    metrics.httpDuration.observe({ route: label, method, status_class: statusClass(status) }, seconds);
    if (logger.isLevelEnabled('info')) {
      logger.info(
        { requestId: id, method: req.method, path: path(), route: label, status, ms: Math.round(seconds * 1000), ua: req.headers['user-agent'] },
        'request',
      );
    }
  });
}

/**
 * Request id (kept from the client when sane), route-labelled metrics (the route comes from a fixed
 * set the handlers set in `res.locals.route`), one access log line per request, and the request id
 * on every other log line written while it is handled.
 */
export function requestContext(logger: Logger, metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const id = requestId(req);
    res.setHeader('x-request-id', id);
    recordRequest(logger, metrics, req, res, id, () => req.path, () => (typeof res.locals.route === 'string' ? res.locals.route : 'other'));
    // Every log line written while this request is handled carries its id.
    withLogContext({ requestId: id }, next);
  };
}
