import { errorReason, type Logger } from '../log/index.js';

/** Anything emitting BullMQ's `error` event: Queue, QueueEvents, Worker. */
interface ErrorEmitter {
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/**
 * Logs an emitter's `error` events (a Redis connection lost, a failed blocking read). While Redis is
 * down they repeat at every reconnection attempt, so one line per `intervalMs` says so, counting the
 * ones left out.
 */
export function logErrors(emitter: ErrorEmitter, what: string, logger: Logger, intervalMs = 60_000): void {
  let lastAt = 0;
  let suppressed = 0;
  emitter.on('error', (err) => {
    const now = Date.now();
    if (now - lastAt < intervalMs) {
      suppressed += 1;
      return;
    }
    logger.warn({ what, err: errorReason(err), ...(suppressed > 0 ? { suppressed } : {}) }, 'queue error');
    lastAt = now;
    suppressed = 0;
  });
}
