import { expireEach, getEach, type RedisClient } from '../redis/index.js';
import type { CacheKeys } from './keys.js';

/** What the gateway needs to serve a cached file without asking PostgreSQL. */
export interface CachedArtifact {
  size: number;
  filename: string;
  /** sha256 of the stored PEP 658 metadata file, once there is one. */
  metadataSha256?: string;
  /**
   * The storage quota evicted the bytes: a request fetches them again. The record stays so that pages
   * keep advertising the metadata file, which is kept.
   */
  evicted?: true;
}

/**
 * How long an artifact record lives after it was last written or read by a file request. The facts
 * never change, but a record is only a shortcut: without it a file request costs a storage stat and
 * a listing lookup (see FileLocator), so an unused record may go, and Redis never fills up with them.
 */
export const ARTIFACT_TTL_SECONDS = 30 * 24 * 3600;

/**
 * Immutable facts about verified files (category `artifact`), keyed by sha256; each record expires
 * {@link ARTIFACT_TTL_SECONDS} after it was last written or read by {@link get}.
 */
export class ArtifactCache {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: CacheKeys,
    private readonly ttlSeconds = ARTIFACT_TTL_SECONDS,
  ) {}

  /** The record, renewing its lifetime (GETEX): files in use keep theirs. */
  async get(protocol: string, sha256: string): Promise<CachedArtifact | null> {
    const raw = await this.redis.getex(this.keys.key('artifact', protocol, sha256), 'EX', this.ttlSeconds);
    return raw ? (JSON.parse(raw) as CachedArtifact) : null;
  }

  /** Forgets a file the store no longer has (wiped storage, another data directory). */
  async delete(protocol: string, sha256: string): Promise<void> {
    await this.redis.del(this.keys.key('artifact', protocol, sha256));
  }

  async set(protocol: string, sha256: string, artifact: CachedArtifact): Promise<void> {
    await this.redis.set(this.keys.key('artifact', protocol, sha256), JSON.stringify(artifact), 'EX', this.ttlSeconds);
  }

  /** How many of the given files are known as stored (read in batches, evicted ones not counted; for the admin API). */
  async countCached(protocol: string, sha256s: readonly string[]): Promise<number> {
    let count = 0;
    for (let i = 0; i < sha256s.length; i += 500) {
      const batch = sha256s.slice(i, i + 500).map((sha256) => this.keys.key('artifact', protocol, sha256));
      if (batch.length === 0) continue;
      for (const raw of await getEach(this.redis, batch)) if (raw && !(JSON.parse(raw) as CachedArtifact).evicted) count++;
    }
    return count;
  }

  /**
   * The stored metadata file's sha256 of each given file that has one (one MGET on a server): what a
   * page fill needs to advertise metadata Orchard extracted itself. The records found are renewed, so
   * a page that keeps being filled keeps advertising them.
   */
  async metadataDigests(protocol: string, sha256s: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    if (sha256s.length === 0) return found;
    const keys = sha256s.map((sha256) => this.keys.key('artifact', protocol, sha256));
    const raws = await getEach(this.redis, keys);
    const renew: string[] = [];
    raws.forEach((raw, i) => {
      if (!raw) return;
      const digest = (JSON.parse(raw) as CachedArtifact).metadataSha256;
      if (!digest) return;
      found.set(sha256s[i]!, digest);
      renew.push(keys[i]!);
    });
    await expireEach(this.redis, renew, this.ttlSeconds);
    return found;
  }

  /**
   * Records an artifact whose metadata was just extracted, then flags its project's cached page (when
   * there is one): the page's next reader re-renders it so it advertises the new metadata file (see
   * `ExtractedMetadata` in libs/pages). Two commands, not one transaction: the keys may live on
   * different Cluster nodes, and a page read between them merely advertises the file a moment later.
   */
  async setExtracted(protocol: string, project: string, sha256: string, artifact: CachedArtifact): Promise<void> {
    const flag = `${Date.now()}-${sha256.slice(0, 12)}`;
    await this.redis.set(this.keys.key('artifact', protocol, sha256), JSON.stringify(artifact), 'EX', this.ttlSeconds);
    await this.redis.eval(FLAG_PAGE, 1, this.keys.key('index', protocol, project), PAGE_METADATA_FIELD, flag);
  }
}

/** Field of a cached page's hash set when metadata of one of its files was extracted since it was rendered. */
export const PAGE_METADATA_FIELD = 'metadata';

const FLAG_PAGE = `if redis.call('exists', KEYS[1]) == 1 then return redis.call('hset', KEYS[1], ARGV[1], ARGV[2]) end return 0`;
