export { UpstreamClient } from './upstream-client.js';
export type { UpstreamHttpSettings, UpstreamResponse, UpstreamRequestOptions } from './upstream-client.js';
export { UpstreamError, asUpstreamError, statusError } from './errors.js';
export type { UpstreamFailure } from './errors.js';
