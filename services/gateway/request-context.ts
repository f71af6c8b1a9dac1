import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import { withLogContext, type Logger } from '../../libs/log/index.js';
import { methodLabel, statusClass, type Metrics } from '../../libs/metrics/index.js';

const SAFE_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Request id (kept from the client when sane), route-labelled metrics (the route comes from a fixed
 * set the handlers set in `res.locals.route`), one access log line per request, and the request id
 * on every other log line written while it is handled.
 */
export function requestContext(logger: Logger, metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && SAFE_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('x-request-id', id);
    const started = process.hrtime.bigint();
    // 'close' fires for finished and abandoned responses alike; a client that went away before the
    // response finished is counted as 499 (nginx's "client closed request").
    res.once('close', () => {
      const route = typeof res.locals.route === 'string' ? res.locals.route : 'other';
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const method = methodLabel(req.method);
      const status = res.writableFinished ? res.statusCode : 499;
      metrics.httpRequests.inc({ route, method, status: String(status) });
      metrics.httpDuration.observe({ route, method, status_class: statusClass(status) }, seconds);
      logger.info(
        { requestId: id, method: req.method, path: req.path, route, status, ms: Math.round(seconds * 1000), ua: req.headers['user-agent'] },
        'request',
      );
    });
    // Every log line written while this request is handled carries its id.
    withLogContext({ requestId: id }, next);
  };
}
