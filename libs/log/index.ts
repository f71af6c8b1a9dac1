export { createLogger, safeUrl } from './logger.js';
export type { Logger } from './logger.js';
export { currentLogContext, withLogContext } from './context.js';
export type { LogContext } from './context.js';
export { errorReason } from './error-reason.js';
