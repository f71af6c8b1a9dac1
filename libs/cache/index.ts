export { createCacheRedis, waitForRedis } from './redis-connection.js';
export { CacheKeys } from './keys.js';
export type { CacheCategory, ImmutableCategory, MutableCategory } from './keys.js';
export { PageCache } from './page-cache.js';
export type { PageMeta, PageVariant, CachedPage } from './page-cache.js';
export { FileMap } from './file-map.js';
export type { FileSource } from './file-map.js';
export { ArtifactCache } from './artifact-cache.js';
export type { CachedArtifact } from './artifact-cache.js';
