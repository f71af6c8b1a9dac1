import type { QueueEvents } from 'bullmq';
import type { ArtifactCache, FileSource } from '../../libs/cache/index.js';
import type { Logger } from '../../libs/log/index.js';
import type { Metrics } from '../../libs/metrics/index.js';
import type { ProjectPages } from '../../libs/pages/index.js';
import type { Producers } from '../../libs/queue/index.js';
import { blobKey, type BlobStore } from '../../libs/storage/index.js';
import { HttpError, notFound } from './http-errors.js';

export type FileLocation =
  | { kind: 'stored'; size?: number }
  /** Not cached yet and the fetch job did not finish in time (or the queue is down): stream from upstream. */
  | { kind: 'upstream'; source: FileSource };

export interface FileLocatorDeps {
  protocol: string;
  pages: ProjectPages;
  artifacts: ArtifactCache;
  store: BlobStore;
  producers: Producers;
  fetchEvents: QueueEvents;
  fetchWaitMs: number;
  metrics: Metrics;
  logger: Logger;
}

/**
 * Finds a file's bytes: already in storage, or fetched now by the file's `fetch` job (job id = its
 * sha256, so concurrent misses share one download). A file no configured upstream listed is a 404.
 */
export class FileLocator {
  constructor(private readonly deps: FileLocatorDeps) {}

  async locate(project: string, sha256: string, filename: string): Promise<FileLocation> {
    const { artifacts, store, metrics, protocol } = this.deps;
    const cached = await artifacts.get(protocol, sha256).catch(() => null);
    if (cached) {
      metrics.cacheLookups.inc({ category: 'artifact', result: 'hit' });
      return { kind: 'stored', size: cached.size };
    }
    const stat = await store.stat(blobKey(sha256));
    if (stat) {
      metrics.cacheLookups.inc({ category: 'artifact', result: 'hit' });
      return { kind: 'stored', size: stat.size };
    }
    metrics.cacheLookups.inc({ category: 'artifact', result: 'miss' });
    const source = await this.deps.pages.lookupFile(project, sha256);
    if (!source || source.filename !== filename) {
      throw notFound(`${filename} is not listed for ${project} by any configured upstream`);
    }
    return this.fetch(project, sha256, source);
  }

  /** The upstream source of a listed file (for `.metadata` requests). */
  async source(project: string, sha256: string, filename: string): Promise<FileSource> {
    const source = await this.deps.pages.lookupFile(project, sha256);
    if (!source || source.filename !== filename) {
      throw notFound(`${filename} is not listed for ${project} by any configured upstream`);
    }
    return source;
  }

  private async fetch(project: string, sha256: string, source: FileSource): Promise<FileLocation> {
    const { producers, fetchEvents, fetchWaitMs, logger } = this.deps;
    let job;
    try {
      job = await producers.addFetch({
        protocol: 'pypi',
        sha256,
        project,
        filename: source.filename,
        url: source.url,
        upstream: source.upstream,
      });
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'queue unavailable; streaming the file from upstream');
      return { kind: 'upstream', source };
    }
    try {
      await job.waitUntilFinished(fetchEvents, fetchWaitMs);
      return { kind: 'stored' };
    } catch (err) {
      const message = (err as Error).message ?? '';
      if (/timed out before finishing/.test(message)) return { kind: 'upstream', source };
      throw new HttpError(502, 'fetch_failed', `could not fetch ${source.filename}: ${oneLine(message)}`);
    }
  }
}

function oneLine(message: string): string {
  return message.split('\n')[0]!.slice(0, 300);
}
