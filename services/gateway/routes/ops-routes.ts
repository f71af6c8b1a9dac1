import { Router } from 'express';
import type { Registry } from 'prom-client';
import { readinessBody, runChecks, type Check } from '../../../libs/lifecycle/index.js';

/** `/health` (process up), `/ready` (dependencies reachable) and `/metrics`. */
export function opsRoutes(deps: {
  registry: Registry;
  checks: Record<string, Check>;
  details: () => Record<string, unknown>;
  /** Refreshes scrape-time gauges (queue depth) before /metrics renders; a failure is not fatal. */
  beforeScrape?: () => Promise<void>;
}): Router {
  const router = Router();
  router.get('/health', (_req, res) => {
    res.locals.route = 'health';
    res.json({ status: 'ok' });
  });
  router.get('/ready', async (_req, res) => {
    res.locals.route = 'ready';
    const result = await runChecks(deps.checks);
    res.status(result.ready ? 200 : 503).json(readinessBody(result, deps.details()));
  });
  router.get('/metrics', async (_req, res) => {
    res.locals.route = 'metrics';
    await deps.beforeScrape?.().catch(() => {});
    res.type(deps.registry.contentType).send(await deps.registry.metrics());
  });
  return router;
}
