import type { RedisClient } from '../redis/index.js';
import type { FileDigest } from '../protocol/types.js';
import type { CacheKeys } from './keys.js';
import { deleteMatching } from '../redis/index.js';

/** Where a file listed on a project page comes from: the only URLs Orchard will fetch. */
export interface FileSource {
  /** Upstream URL of the file (no fragment, no credentials). */
  url: string;
  upstream: string;
  filename: string;
  /** sha256 of the upstream's PEP 658 metadata file, or true when advertised without a hash. */
  coreMetadata?: string | true;
  /** The digest the bytes are verified against when it is not the sha256 they are listed by (npm's sha512). */
  digest?: FileDigest;
}

/**
 * The map's field for one listed file: its sha256 and the name the listing gives it. The same bytes
 * may be listed under several names (another project, a second link on one page); each name is its
 * own entry, so every name a current listing gives a file serves it.
 */
export function listedFileKey(sha256: string, filename: string): string {
  return `${sha256}/${filename}`;
}

/**
 * The file→upstream map (category `upstream`): per project, listed file (sha256 and name) →
 * FileSource. Rewritten with every page fill, expires after an hour and is dropped when upstream
 * configuration changes.
 */
export class FileMap {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: CacheKeys,
    private readonly ttlSeconds = 3600,
  ) {}

  /**
   * The file's source; `known` tells whether the project's map exists at all (when it does and the
   * file is not in it, no upstream listed the file and there is no reason to ask again). With a
   * `generation`, a map written under another upstream configuration counts as unknown.
   */
  async get(protocol: string, project: string, listedKey: string, generation?: string): Promise<{ source: FileSource | null; known: boolean }> {
    const [raw, marker] = await this.redis.hmget(this.keys.key('upstream', protocol, project), listedKey, MARKER);
    const known = isCurrent(marker, generation);
    return { source: known && raw ? (JSON.parse(raw) as FileSource) : null, known };
  }

  /** The sha256 of every file in a project's map, once each (null when there is no current map). */
  async fileIds(protocol: string, project: string, generation?: string): Promise<string[] | null> {
    const key = this.keys.key('upstream', protocol, project);
    const [[, marker], [, fields]] = (await this.redis.multi().hget(key, MARKER).hkeys(key).exec()) as [[unknown, string | null], [unknown, string[]]];
    if (!isCurrent(marker, generation)) return null;
    return [...new Set(fields.filter((field) => field !== MARKER).map((field) => field.slice(0, field.indexOf('/'))))];
  }

  async delete(protocol: string, project: string): Promise<void> {
    await this.redis.del(this.keys.key('upstream', protocol, project));
  }

  /**
   * Drops every project's map (a purged page's files are then looked up in a fresh listing); the
   * upstream registry's own keys in this category (`@stored`, `@version`) stay. Returns how many went.
   */
  async deleteAll(protocol: string): Promise<number> {
    const registryKeys = this.keys.key('upstream', protocol, '@');
    return deleteMatching(this.redis, this.keys.pattern('upstream', protocol), (key) => key.startsWith(registryKeys));
  }

  /**
   * Replaces a project's map (keys from {@link listedFileKey}); `generation` is the upstream
   * configuration it was built under.
   */
  async replace(protocol: string, project: string, files: Map<string, FileSource>, generation = ''): Promise<void> {
    const key = this.keys.key('upstream', protocol, project);
    // The marker field keeps the map present for a page that lists no file, and holds its format and generation.
    const fields = new Map<string, string>([[MARKER, `${FORMAT}${generation}`]]);
    for (const [id, source] of files) fields.set(id, JSON.stringify(source));
    // A Map, not spread arguments: a maximal page's fields would overflow the call stack.
    await this.redis.multi().del(key).hset(key, fields).expire(key, this.ttlSeconds).exec();
  }
}

/** Field name no listed file can take (theirs start with a sha256). */
const MARKER = '';
/**
 * Format of the map's fields, leading the marker's value: a map written by an older version (keyed
 * by sha256 alone) counts as unknown and is rebuilt by the next lookup.
 */
const FORMAT = 'v2:';

function isCurrent(marker: string | null | undefined, generation: string | undefined): boolean {
  if (typeof marker !== 'string' || !marker.startsWith(FORMAT)) return false;
  return generation === undefined || marker.slice(FORMAT.length) === generation;
}
