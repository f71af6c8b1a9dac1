/**
 * Immutable categories hold facts that never change (kept until unused for a long time: see
 * ArtifactCache); mutable ones carry a freshness TTL. docs/cache-model.md lists every key and its lifetime.
 */
export type ImmutableCategory = 'artifact' | 'deps' | 'resolve';
export type MutableCategory = 'index' | 'versions' | 'upstream' | 'storage' | 'view';
export type CacheCategory = ImmutableCategory | MutableCategory;

/** Builds `orchard:{category}:{protocol}:{identifier}` (prefix configurable for tests). */
export class CacheKeys {
  constructor(private readonly prefix: string = 'orchard') {}

  key(category: CacheCategory, protocol: string, identifier: string): string {
    return `${this.prefix}:${category}:${protocol}:${identifier}`;
  }

  /** The pattern matching every key of a category (and protocol), for invalidation scans. */
  pattern(category: CacheCategory, protocol = '*'): string {
    return `${this.prefix}:${category}:${protocol}:*`;
  }
}
