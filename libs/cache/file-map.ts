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
   * file is not in it, no upstream listed the file and there is no reason to ask again).
   */
  async get(protocol: string, project: string, fileId: string): Promise<{ source: FileSource | null; known: boolean }> {
    const key = this.keys.key('upstream', protocol, project);
    const [[, raw], [, exists]] = (await this.redis.multi().hget(key, fileId).exists(key).exec()) as [
      [unknown, string | null],
      [unknown, number],
    ];
    return { source: raw ? (JSON.parse(raw) as FileSource) : null, known: exists === 1 };
  }

  async replace(protocol: string, project: string, files: Map<string, FileSource>): Promise<void> {
    const key = this.keys.key('upstream', protocol, project);
    // An empty marker field keeps the map present for a page that lists no file.
    const fields: string[] = ['', ''];
    for (const [id, source] of files) fields.push(id, JSON.stringify(source));
    await this.redis.multi().del(key).hset(key, ...fields).expire(key, this.ttlSeconds).exec();
  }
}
