import type { Redis } from 'ioredis';
import type { CacheKeys } from './keys.js';

/** What the gateway needs to serve a cached file without asking PostgreSQL. */
export interface CachedArtifact {
  size: number;
  filename: string;
  /** sha256 of the stored PEP 658 metadata file, once there is one. */
  metadataSha256?: string;
}

/** Immutable facts about verified files (category `artifact`, no TTL), keyed by sha256. */
export class ArtifactCache {
  constructor(
    private readonly redis: Redis,
    private readonly keys: CacheKeys,
  ) {}

  async get(protocol: string, sha256: string): Promise<CachedArtifact | null> {
    const raw = await this.redis.get(this.keys.key('artifact', protocol, sha256));
    return raw ? (JSON.parse(raw) as CachedArtifact) : null;
  }

  async set(protocol: string, sha256: string, artifact: CachedArtifact): Promise<void> {
    await this.redis.set(this.keys.key('artifact', protocol, sha256), JSON.stringify(artifact));
  }
}
