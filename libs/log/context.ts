import { AsyncLocalStorage } from 'node:async_hooks';

/** Fields added to every log line written while handling one request (or job). */
export interface LogContext {
  requestId?: string;
  queue?: string;
  jobId?: string;
  /** The protocol a job serves (pypi, npm). */
  protocol?: string;
}

const storage = new AsyncLocalStorage<LogContext>();

/**
 * Runs `fn` with `context` attached to every log line written from it and from everything it
 * starts asynchronously, so a warning deep in the page pipeline still names the request it served.
 */
export function withLogContext<T>(context: LogContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** The context of the request or job being handled, if any. */
export function currentLogContext(): LogContext | undefined {
  return storage.getStore();
}
