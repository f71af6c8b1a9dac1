import type { Request, Response } from 'express';
import type { UpstreamConfig } from '../../libs/config/index.js';
import { type UpstreamClient } from '../../libs/http/index.js';
import type { Metrics } from '../../libs/metrics/index.js';
import { HashMismatchError, metadataKey, type BlobStore } from '../../libs/storage/index.js';
import type { FileLocator } from './file-locator.js';
import { HttpError, notFound } from './http-errors.js';
import { sendStoredFile } from './send-file.js';

const MAX_METADATA_BYTES = 10 * 1024 * 1024;

/**
 * PEP 658 `<file>.metadata`: the METADATA the extractor stored, or, before the file is cached, the
 * upstream's own metadata file — fetched once, verified against its published hash, then stored.
 */
export class MetadataFiles {
  constructor(
    private readonly deps: {
      store: BlobStore;
      files: FileLocator;
      http: UpstreamClient;
      upstreams: () => Promise<UpstreamConfig[]>;
      metrics: Metrics;
    },
  ) {}

  async serve(req: Request, res: Response, project: string, sha256: string, filename: string): Promise<void> {
    const key = metadataKey(sha256);
    const file = { key, sha256, filename: `${filename}.metadata`, contentType: 'text/plain; charset=utf-8' };
    if (await sendStoredFile(req, res, this.deps.store, this.deps.metrics, file)) return;
    const source = await this.deps.files.source(project, sha256, filename);
    if (!source.coreMetadata) throw notFound(`no metadata is available for ${filename} yet`);
    const upstream = (await this.deps.upstreams()).find((u) => u.name === source.upstream);
    if (!upstream) throw new HttpError(502, 'upstream_removed', `upstream ${source.upstream} is no longer configured`);
    const response = await this.deps.http.get(upstream, `${source.url}.metadata`, { headers: { 'accept-encoding': 'identity' } });
    this.deps.metrics.upstreamRequests.inc({ upstream: upstream.name, kind: 'metadata', outcome: response.status === 200 ? 'ok' : 'error' });
    if (response.status !== 200) {
      response.body.resume();
      throw new HttpError(response.status === 404 ? 404 : 502, 'upstream_status', `upstream ${upstream.name} answered ${response.status} for ${filename}.metadata`);
    }
    try {
      await this.deps.store.put(key, response.body, {
        expectedSha256: typeof source.coreMetadata === 'string' ? source.coreMetadata : undefined,
        maxBytes: MAX_METADATA_BYTES,
        contentType: 'text/plain; charset=utf-8',
      });
    } catch (err) {
      if (err instanceof HashMismatchError) {
        this.deps.metrics.hashMismatches.inc({ upstream: upstream.name });
        throw new HttpError(502, 'hash_mismatch', `upstream metadata for ${filename} does not match its published sha256`);
      }
      throw err;
    }
    if (!(await sendStoredFile(req, res, this.deps.store, this.deps.metrics, file))) {
      throw new HttpError(503, 'storage_unavailable', 'storage did not return the metadata just stored');
    }
  }
}
