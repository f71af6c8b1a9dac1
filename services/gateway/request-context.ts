import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from '../../libs/log/index.js';
import type { Metrics } from '../../libs/metrics/index.js';

const SAFE_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Request id (kept from the client when sane), route-labelled metrics (the route comes from a fixed
 * set the handlers set in `res.locals.route`) and one access log line per request.
 */
export function requestContext(logger: Logger, metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && SAFE_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('x-request-id', id);
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const route = typeof res.locals.route === 'string' ? res.locals.route : 'other';
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const method = req.method === 'HEAD' ? 'HEAD' : req.method === 'GET' ? 'GET' : 'OTHER';
      metrics.httpRequests.inc({ route, method, status: String(res.statusCode) });
      metrics.httpDuration.observe({ route, method }, seconds);
      logger.info(
        { requestId: id, method: req.method, path: req.path, route, status: res.statusCode, ms: Math.round(seconds * 1000), ua: req.headers['user-agent'] },
        'request',
      );
    });
    next();
  };
}
