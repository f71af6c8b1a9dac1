/** Immutable categories never expire; mutable ones carry a TTL (DESIGN.md "Redis keys"). */
export type ImmutableCategory = 'artifact' | 'deps' | 'resolve';
export type MutableCategory = 'index' | 'versions' | 'upstream';
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
