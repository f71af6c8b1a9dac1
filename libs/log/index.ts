export { createLogger, safeUrl } from './logger.js';
export type { Logger } from './logger.js';
