export { ProjectPages, isRedisUnavailable } from './project-pages.js';
export type { PageAnswer, CacheState, FreshnessSettings, ProjectPagesDeps } from './project-pages.js';
export { UpstreamPageFetcher, MAX_PAGE_BYTES } from './upstream-page-fetcher.js';
export type { UpstreamPageResult, Validators } from './upstream-page-fetcher.js';
export { buildPage, fileLink } from './page-builder.js';
export type { BuiltPage } from './page-builder.js';
export { readBounded, BodyTooLargeError } from './read-bounded.js';
export { createProjectPages } from './create-project-pages.js';
