import { Router } from 'express';
import { OPS_ROUTES, createOpsHandler, opsRouteOf, type OpsEndpointsOptions } from '../../../libs/lifecycle/index.js';
import { setRoute } from '../request-context.js';

/**
 * `/health`, `/ready` and (unless `metrics` is false: the public port of a gateway with an internal
 * one) `/metrics`: the same handler as the workers' ops server, mounted in express.
 */
export function opsRoutes(deps: OpsEndpointsOptions, serve: { metrics: boolean } = { metrics: true }): Router {
  const handle = createOpsHandler(deps);
  const router = Router();
  router.get(Object.keys(OPS_ROUTES), async (req, res, next) => {
    const route = opsRouteOf(req.url);
    if (route === 'metrics' && !serve.metrics) return next();
    if (route) setRoute(res, route);
    if (!(await handle(req, res))) next();
  });
  return router;
}
