import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../redis/index.js';
import type { CacheKeys } from './keys.js';

/** The representations of the root list, each rendered (and compressed) once per fill. */
export type RootVariant = 'html' | 'json' | 'html.gz' | 'json.gz' | 'html.br' | 'json.br';
export const ROOT_VARIANTS: readonly RootVariant[] = ['html', 'json', 'html.gz', 'json.gz', 'html.br', 'json.br'];

/** What Orchard remembers about the cached root list besides its bodies. */
export interface RootMeta {
  /** Base of the representations' ETags (content hash of the HTML and JSON). */
  etag: string;
  /** When the upstreams' lists were read (ms since epoch); freshness counts from here. */
  fetchedAt: number;
  /** Which set of body keys holds this version (bodies are never rewritten in place). */
  generation: string;
  /** Byte length of each representation (Content-Length without reading the body). */
  lengths: Record<RootVariant, number>;
  projects: number;
}

/**
 * Identifier of the root list in the `index` category: no normalised project name starts with `{`.
 * The braces are a Redis Cluster hash tag: the meta and every body share one slot, so a publish
 * stays one transaction there too.
 */
const ROOT_ID = '{_root}';
/** How long a replaced generation stays readable for responses still streaming it. */
const GRACE_SECONDS = 900;
/** Bytes per GETRANGE when streaming a body out. */
const READ_CHUNK = 1024 * 1024;

/**
 * The root `/simple/` list in Redis. It can be tens of megabytes, so it is never one value in
 * memory: a fill APPENDs each representation in chunks under a fresh generation's keys, then
 * publishes the meta pointing at them; readers stream a body out with GETRANGE. A reader that
 * started on the previous generation keeps reading it (it expires after a grace period).
 *
 * Keys: `…:index:<protocol>:{_root}` (meta), `…:{_root}:<generation>:<variant>` (bodies).
 */
export class RootIndexCache {
  private readonly metaKey: string;

  constructor(
    private readonly redis: RedisClient,
    keys: CacheKeys,
    protocol: string,
  ) {
    this.metaKey = keys.key('index', protocol, ROOT_ID);
  }

  /** The current meta; null when there is none. Throws when Redis is unreachable. */
  async getMeta(): Promise<RootMeta | null> {
    const raw = await this.redis.get(this.metaKey);
    return raw ? (JSON.parse(raw) as RootMeta) : null;
  }

  /** A new generation id for a fill. */
  newGeneration(): string {
    return `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  }

  /** Appends to one body of an unpublished generation (which expires unless published). */
  async append(generation: string, variant: RootVariant, chunk: Buffer, pendingSeconds: number): Promise<void> {
    const key = this.bodyKey(generation, variant);
    await this.redis.multi().append(key, chunk).expire(key, pendingSeconds).exec();
  }

  /** Makes a generation current: its bodies live `keepSeconds`; the previous ones a grace period. */
  async publish(meta: RootMeta, keepSeconds: number): Promise<void> {
    const previous = await this.getMeta();
    const keep = Math.max(1, keepSeconds);
    const tx = this.redis.multi();
    for (const variant of ROOT_VARIANTS) tx.expire(this.bodyKey(meta.generation, variant), keep);
    tx.set(this.metaKey, JSON.stringify(meta), 'EX', keep);
    if (previous && previous.generation !== meta.generation) {
      for (const variant of ROOT_VARIANTS) tx.expire(this.bodyKey(previous.generation, variant), Math.min(GRACE_SECONDS, keep));
    }
    await tx.exec();
  }

  /** Drops an unpublished generation (a failed fill). */
  async discard(generation: string): Promise<void> {
    await this.redis.del(...ROOT_VARIANTS.map((v) => this.bodyKey(generation, v)));
  }

  /**
   * Streams one body out in chunks. Throws when the body is shorter than `length` (its generation
   * expired mid-stream): the response is then cut off rather than completed wrongly.
   */
  async *read(generation: string, variant: RootVariant, length: number): AsyncGenerator<Buffer> {
    const key = this.bodyKey(generation, variant);
    for (let offset = 0; offset < length; offset += READ_CHUNK) {
      const end = Math.min(offset + READ_CHUNK, length) - 1;
      const chunk = await this.redis.getrangeBuffer(key, offset, end);
      if (chunk.length !== end - offset + 1) throw new Error(`root index body ${variant} vanished while it was read`);
      yield chunk;
    }
  }

  private bodyKey(generation: string, variant: RootVariant): string {
    return `${this.metaKey}:${generation}:${variant}`;
  }
}
