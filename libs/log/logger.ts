import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs on stdout. Credentials never reach a log line: authorization headers and
 * anything named like a secret are redacted, and upstream URLs are logged without userinfo.
 */
export function createLogger(service: string, level: string): Logger {
  return pino({
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
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
      ],
      censor: '[redacted]',
    },
  });
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
