import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type Express, type Router } from 'express';
import type { Logger } from '../../libs/log/index.js';
import type { Metrics } from '../../libs/metrics/index.js';
import { errorHandler, notFound } from './http-errors.js';
import type { ReadPath } from './read-path.js';
import { requestContext } from './request-context.js';
import { opsRoutes } from './routes/ops-routes.js';

export interface GatewayHttpDeps {
  logger: Logger;
  metrics: Metrics;
  /** Each protocol's index and file routes (the public port); none on the internal port. */
  readPaths: ReadPath[];
  ops: Parameters<typeof opsRoutes>[0];
  /** Whether this port serves `/metrics` (`/health` and `/ready` are served on every port). */
  serveMetrics: boolean;
  /** The JSON API and admin routers this port serves. */
  routers: Router[];
}

/**
 * A gateway port's request listener: every request gets its id, metrics and access log line, then
 * each protocol's index and file routes go to its {@link ReadPath} and everything else to express.
 */
export function createRequestListener(deps: GatewayHttpDeps): RequestListener {
  const context = requestContext(deps.logger, deps.metrics);
  const app = createApp(deps);
  const readPaths = deps.readPaths;
  return (req: IncomingMessage, res: ServerResponse) => {
    context(req, res);
    const readPath = readPaths.find((path) => path.owns(req));
    if (readPath) readPath.handle(req, res);
    else app(req, res);
  };
}

/** The express application: ops, JSON API and admin routes, with the shared error handler. */
function createApp(deps: GatewayHttpDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('strict routing', true);
  app.use(opsRoutes(deps.ops, { metrics: deps.serveMetrics }));
  for (const router of deps.routers) app.use(router);
  app.use((_req, _res, next) => next(notFound('not found')));
  app.use(errorHandler(deps.logger));
  return app;
}
