import http from 'node:http';
import type { Registry } from 'prom-client';
import { readinessBody, runChecks, type Check } from './readiness.js';

export interface OpsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  checks: Record<string, Check>;
  /** Extra facts for /ready (pool sizes, concurrency). */
  details?: () => Record<string, unknown>;
  /** More routes of the service's own: answers and returns true, or returns false for a 404. */
  routes?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
  /** Refreshes scrape-time gauges (queue depth) before /metrics renders. */
  beforeScrape?: () => Promise<void>;
}

/** The workers' own small HTTP server: `/health`, `/ready` and `/metrics`. */
export function startOpsServer(options: OpsServerOptions): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    void handle(req, res, options).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve(server));
  });
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, options: OpsServerOptions): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    return;
  }
  if (path === '/ready') {
    const result = await runChecks(options.checks);
    res
      .writeHead(result.ready ? 200 : 503, { 'content-type': 'application/json' })
      .end(JSON.stringify(readinessBody(result, options.details?.())));
    return;
  }
  if (path === '/metrics') {
    await options.beforeScrape?.().catch(() => {});
    const body = await options.registry.metrics();
    res.writeHead(200, { 'content-type': options.registry.contentType }).end(body);
    return;
  }
  if (options.routes?.(req, res)) return;
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
}

export function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
