import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { currentLogContext } from './context.js';

export type { Logger };

/**
 * Structured JSON logs on stdout. Credentials never reach a log line: authorization headers and
 * anything named like a secret are redacted, and upstream URLs are logged without userinfo. Lines
 * written while a request is handled carry its `requestId` (see `withLogContext`).
 */
export function createLogger(service: string, level: string, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level,
    // pid: a gateway runs several processes (ORCHARD_GATEWAY_PROCESSES) writing to one stream.
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Fields of the log line itself win over the context's (pino merges the mixin first).
    mixin: () => ({ ...currentLogContext() }),
    redact: {
      paths: [
        'authorization',
        'headers.authorization',
        'req.headers.authorization',
        '*.authorization',
        'auth',
        '*.auth',
        'password',
        '*.password',
        'token',
        '*.token',
        'secret',
        '*.secret',
        'authSecret',
        '*.authSecret',
        'headers.cookie',
        'req.headers.cookie',
        'headers["proxy-authorization"]',
        'req.headers["proxy-authorization"]',
        'adminToken',
        '*.adminToken',
        'secretAccessKey',
        '*.secretAccessKey',
        // Connection strings may carry a password.
        'databaseUrl',
        '*.databaseUrl',
        'redisUrl',
        '*.redisUrl',
        'cacheRedisUrl',
        '*.cacheRedisUrl',
      ],
      censor: '[redacted]',
    },
  };
  // stdout by default; tests pass a stream to read the lines back.
  return destination ? pino(options, destination) : pino(options);
}

/** A URL safe to log: no userinfo, no query string (signed URLs carry secrets there). */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    return u.toString();
  } catch {
    return '[invalid url]';
  }
}
