import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type Express } from 'express';
import type { Logger } from '../../libs/log/index.js';
import type { Metrics } from '../../libs/metrics/index.js';
import type { FastPath } from './fast-path.js';
import { errorHandler, notFound } from './http-errors.js';
import { requestContext } from './request-context.js';
import { fileRoutes, type FileRoutesDeps } from './routes/file-routes.js';
import { opsRoutes } from './routes/ops-routes.js';
import { rootRoutes, type RootRoutesDeps } from './routes/root-routes.js';
import { simpleRoutes, type SimpleRoutesDeps } from './routes/simple-routes.js';
import type { Router } from 'express';

export interface AppDeps {
  logger: Logger;
  metrics: Metrics;
  simple: SimpleRoutesDeps;
  /** The root `/simple/` list; absent, `/simple/` is a 404. */
  root?: RootRoutesDeps;
  files: FileRoutesDeps;
  ops: Parameters<typeof opsRoutes>[0];
  /** Extra routers (JSON API, admin). */
  extra?: Router[];
}

/** The gateway's express application, built from explicit dependencies (tests build the same). */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('strict routing', true);
  app.use(requestContext(deps.logger, deps.metrics));
  app.use(opsRoutes(deps.ops));
  if (deps.root) app.use(rootRoutes(deps.root));
  app.use(simpleRoutes(deps.simple));
  app.use(fileRoutes(deps.files));
  for (const router of deps.extra ?? []) app.use(router);
  app.use((_req, _res, next) => next(notFound('not found')));
  app.use(errorHandler(deps.logger));
  return app;
}

/** The server's request listener: the fast path for warm page hits, express for everything else. */
export function withFastPath(app: Express, fastPath: FastPath): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    if (!fastPath.handle(req, res)) app(req, res);
  };
}
