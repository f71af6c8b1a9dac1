export { Shutdown } from './shutdown.js';
export type { ShutdownStep } from './shutdown.js';
export { runChecks } from './readiness.js';
export type { Check, CheckResult } from './readiness.js';
export { startOpsServer, closeServer } from './ops-server.js';
export type { OpsServerOptions } from './ops-server.js';
export { openCoreClients, closeCoreClientsOnShutdown } from './core-clients.js';
export type { CoreClients } from './core-clients.js';
