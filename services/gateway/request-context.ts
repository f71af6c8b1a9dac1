import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pinoHttp, type HttpLogger } from 'pino-http';
import type { Logger } from '../../libs/log/index.js';
import { methodLabel, statusClass, type Metrics } from '../../libs/metrics/index.js';
import { finalStatus, trackBodyDelivery } from './body-delivery.js';

const SAFE_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** The route label of each response, from a fixed set (`setRoute`); 'other' when none was set. */
const routes = new WeakMap<ServerResponse, string>();
/** The protocol label of each response answered by a protocol's read path; 'none' for the rest. */
const protocols = new WeakMap<ServerResponse, string>();

/** Labels a response's metrics and access log line with its route (and the protocol it serves, if any). */
export function setRoute(res: ServerResponse, route: string, protocol?: string): void {
  routes.set(res, route);
  if (protocol !== undefined) protocols.set(res, protocol);
}

function routeOf(res: ServerResponse): string {
  return routes.get(res) ?? 'other';
}

function protocolOf(res: ServerResponse): string {
  return protocols.get(res) ?? 'none';
}

/** The request id: the client's `X-Request-Id` when sane, else a fresh one. */
export function requestId(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && SAFE_ID.test(incoming) ? incoming : randomUUID();
}

/**
 * What every gateway request gets before it is handled (read path and express alike): its request
 * id (kept from the client when sane) on the response, route-labelled metrics, and one access log
 * line (pino-http, at info) when its response closes.
 *
 * 'close' counts finished and abandoned responses alike: a response whose whole body went out
 * counts with its own status even when the client closed at once; one the client left before its
 * body was complete counts as 499 (nginx's "client closed request"); one the gateway cut off counts
 * with the failure's status (see {@link finalStatus}).
 */
export function requestContext(logger: Logger, metrics: Metrics): (req: IncomingMessage, res: ServerResponse) => void {
  const accessLog = accessLogger(logger);
  return (req, res) => {
    const id = requestId(req);
    res.setHeader('x-request-id', id);
    const started = process.hrtime.bigint();
    trackBodyDelivery(res);
    res.once('close', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const method = methodLabel(req.method ?? 'GET');
      const status = finalStatus(res);
      const route = routeOf(res);
      const protocol = protocolOf(res);
      metrics.httpRequests.inc({ protocol, route, method, status: String(status) });
      metrics.httpDuration.observe({ protocol, route, method, status_class: statusClass(status) }, seconds);
    });
    // The access log is at info: below that level, no per-request logger is made at all.
    if (logger.isLevelEnabled('info')) {
      (req as IncomingMessage & { id?: string }).id = id;
      accessLog(req, res);
    }
  };
}

/** One `request` line per response: request id, method, path, route, protocol, final status, ms, user agent. */
function accessLogger(logger: Logger): HttpLogger {
  const line = (req: IncomingMessage, res: ServerResponse, ms: number) => ({
    requestId: (req as IncomingMessage & { id?: string }).id,
    method: req.method,
    path: (req.url ?? '').split('?', 1)[0],
    route: routeOf(res),
    protocol: protocols.get(res),
    status: finalStatus(res),
    ms,
    ua: req.headers['user-agent'],
  });
  return pinoHttp({
    logger,
    // The line is built from the fields above only: no request or response serialisation per request.
    wrapSerializers: false,
    serializers: { req: () => undefined, res: () => undefined, err: () => undefined },
    customLogLevel: () => 'info',
    customSuccessMessage: () => 'request',
    customErrorMessage: () => 'request',
    customSuccessObject: (req, res, value: { responseTime: number }) => line(req, res, value.responseTime),
    customErrorObject: (req, res, _err, value: { responseTime: number }) => line(req, res, value.responseTime),
  });
}
