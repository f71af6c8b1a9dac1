import http from 'node:http';
import { errorReason } from '../log/index.js';
import { createOpsHandler, type OpsEndpointsOptions } from './ops-endpoints.js';

export interface OpsServerOptions extends OpsEndpointsOptions {
  host: string;
  port: number;
  /** More routes of the service's own: answers and returns true, or returns false for a 404. */
  routes?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

/** The workers' own small HTTP server: `/health`, `/ready` and `/metrics` (see {@link createOpsHandler}). */
export function startOpsServer(options: OpsServerOptions): Promise<http.Server> {
  const ops = createOpsHandler(options);
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    if (await ops(req, res)) return;
    if (options.routes?.(req, res)) return;
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  };
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      options.logger?.error({ path: req.url, reason: errorReason(err) }, 'ops request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
    });
  });
  return listen(server, options.port, options.host).then(() => server);
}

/** Starts a server listening; rejects when the port cannot be had. */
export function listen(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}

export function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
