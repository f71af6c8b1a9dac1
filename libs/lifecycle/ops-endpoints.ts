import type http from 'node:http';
import type { Registry } from 'prom-client';
import { readinessBody, runChecks, type Check } from './readiness.js';

/** What `/health`, `/ready` and `/metrics` answer from; every service builds one. */
export interface OpsEndpointsOptions {
  registry: Registry;
  checks: Record<string, Check>;
  /** Extra facts for /ready (pool sizes, concurrency). */
  details?: () => Record<string, unknown>;
  /** Renders `/metrics` (default: `registry`); a gateway's processes render all of them aggregated. */
  scrape?: () => Promise<string>;
  /** Where a failed ops request is noted. */
  logger?: OpsLogger;
}

/** The logger calls made here; a pino logger fits. */
export interface OpsLogger {
  error(fields: object, message: string): void;
}

/** The ops routes, by path; also the `route` label their requests are counted under. */
export const OPS_ROUTES = { '/health': 'health', '/ready': 'ready', '/metrics': 'metrics' } as const;
export type OpsRoute = (typeof OPS_ROUTES)[keyof typeof OPS_ROUTES];

/** The ops route a request path names, if any (query string ignored). */
export function opsRouteOf(url: string | undefined): OpsRoute | undefined {
  const path = (url ?? '/').split('?')[0]!;
  return Object.hasOwn(OPS_ROUTES, path) ? OPS_ROUTES[path as keyof typeof OPS_ROUTES] : undefined;
}

/**
 * Answers `/health` (process up), `/ready` (every check, 503 unless all pass) and `/metrics` on a
 * plain node:http response: the one implementation behind the workers' ops server and the
 * gateway's routes. Resolves false, having written nothing, for any other path.
 */
export function createOpsHandler(options: OpsEndpointsOptions): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    switch (opsRouteOf(req.url)) {
      case 'health':
        send(res, 200, JSON_TYPE, '{"status":"ok"}');
        return true;
      case 'ready': {
        const result = await runChecks(options.checks);
        send(res, result.ready ? 200 : 503, JSON_TYPE, JSON.stringify(readinessBody(result, options.details?.())));
        return true;
      }
      case 'metrics':
        send(res, 200, options.registry.contentType, await (options.scrape ? options.scrape() : options.registry.metrics()));
        return true;
      case undefined:
        return false;
    }
  };
}

const JSON_TYPE = 'application/json; charset=utf-8';

function send(res: http.ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) }).end(body);
}
