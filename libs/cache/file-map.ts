import type { Redis } from 'ioredis';
import type { CacheKeys } from './keys.js';

/** Where a file listed on a project page comes from: the only URLs Orchard will fetch. */
export interface FileSource {
  /** Upstream URL of the file (no fragment, no credentials). */
  url: string;
  upstream: string;
  filename: string;
  /** sha256 of the upstream's PEP 658 metadata file, or true when advertised without a hash. */
  coreMetadata?: string | true;
}

/**
 * The file→upstream map (category `upstream`): per project, file id → FileSource. Rewritten with
 * every page fill, expires after an hour and is dropped when upstream configuration changes.
 */
export class FileMap {
  constructor(
    private readonly redis: Redis,
    private readonly keys: CacheKeys,
    private readonly ttlSeconds = 3600,
  ) {}

  /**
   * The file's source; `known` tells whether the project's map exists at all (when it does and the
   * file is not in it, no upstream listed the file and there is no reason to ask again). With a
   * `generation`, a map written under another upstream configuration counts as unknown.
   */
  async get(protocol: string, project: string, fileId: string, generation?: string): Promise<{ source: FileSource | null; known: boolean }> {
    const [raw, marker] = await this.redis.hmget(this.keys.key('upstream', protocol, project), fileId, MARKER);
    const known = marker !== null && marker !== undefined && (generation === undefined || marker === generation);
    return { source: known && raw ? (JSON.parse(raw) as FileSource) : null, known };
  }

  /** The ids of every file in a project's map (null when there is no current map). */
  async fileIds(protocol: string, project: string, generation?: string): Promise<string[] | null> {
    const key = this.keys.key('upstream', protocol, project);
    const [[, marker], [, ids]] = (await this.redis.multi().hget(key, MARKER).hkeys(key).exec()) as [[unknown, string | null], [unknown, string[]]];
    if (marker === null || (generation !== undefined && marker !== generation)) return null;
    return ids.filter((id) => id !== MARKER);
  }

  async delete(protocol: string, project: string): Promise<void> {
    await this.redis.del(this.keys.key('upstream', protocol, project));
  }

  /** Replaces a project's map; `generation` is the upstream configuration it was built under. */
  async replace(protocol: string, project: string, files: Map<string, FileSource>, generation = ''): Promise<void> {
    const key = this.keys.key('upstream', protocol, project);
    // The marker field keeps the map present for a page that lists no file, and holds its generation.
    const fields: string[] = [MARKER, generation];
    for (const [id, source] of files) fields.push(id, JSON.stringify(source));
    await this.redis.multi().del(key).hset(key, ...fields).expire(key, this.ttlSeconds).exec();
  }
}

/** Field name no file id can take (file ids are sha256 hex). */
const MARKER = '';
