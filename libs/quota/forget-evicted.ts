import type { RedisClient } from '../redis/index.js';
import { publishInvalidation, type ArtifactCache } from '../cache/index.js';
import type { EvictedRow } from '../db/index.js';
import { errorReason, type Logger } from '../log/index.js';

/**
 * How the caches forget an evicted file: its artifact record says so (a request fetches the bytes
 * again, while pages keep advertising its metadata file, which stays), and every gateway process
 * forgets what it remembers of the project (its memo may hold the file). Failures are logged: a
 * record left behind costs one request a missing-file check, the memo expires by itself.
 */
export function forgetEvicted(deps: { artifacts: ArtifactCache; redis: RedisClient; channel: string; logger: Logger }): (file: EvictedRow) => Promise<void> {
  return async (file) => {
    const record = { size: file.size, filename: file.filename, ...(file.metadataSha256 ? { metadataSha256: file.metadataSha256 } : {}), evicted: true as const };
    try {
      await deps.artifacts.set(file.protocol, file.sha256, record);
      await publishInvalidation(deps.redis, deps.channel, { protocol: file.protocol, project: file.project });
    } catch (err) {
      deps.logger.warn({ sha256: file.sha256, err: errorReason(err) }, 'could not tell the caches a file was evicted');
    }
  };
}
