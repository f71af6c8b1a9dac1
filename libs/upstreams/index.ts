export { UpstreamRegistry } from './upstream-registry.js';
export type { UpstreamRegistryDeps, UpstreamView } from './upstream-registry.js';
export { UpstreamConflictError, UpstreamInputError } from './errors.js';
export { UPSTREAM_NAME, fromStored, authToStored, checkedUrl } from './stored-upstream.js';
export type { UpstreamInput, UpstreamPatch } from './stored-upstream.js';
