import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Request, Response } from 'express';
import type { ArtifactCache, FileSource } from '../../libs/cache/index.js';
import type { UpstreamConfig } from '../../libs/config/index.js';
import type { UpstreamClient } from '../../libs/http/index.js';
import type { Logger } from '../../libs/log/index.js';
import type { Metrics } from '../../libs/metrics/index.js';
import { BodyTooLargeError, readBounded } from '../../libs/pages/index.js';
import type { ProtocolAdapter } from '../../libs/protocol/types.js';
import { readWheelMetadata } from '../../libs/protocol/pypi/archive/index.js';
import { blobKey, metadataKey, type BlobStore } from '../../libs/storage/index.js';
import { FileMemo } from './file-memo.js';
import { notListed, type FileLocator } from './file-locator.js';
import { HttpError, notFound } from './http-errors.js';
import { sendBuffer } from './send-file.js';

/** Largest metadata file Orchard serves or stores (real ones are a few KiB). */
const MAX_METADATA_BYTES = 10 * 1024 * 1024;
const CONTENT_TYPE = 'text/plain; charset=utf-8';

export interface MetadataFilesDeps {
  protocol: ProtocolAdapter;
  /** Says which files' metadata Orchard extracted (and so advertises) itself. */
  artifacts: ArtifactCache;
  store: BlobStore;
  files: FileLocator;
  http: UpstreamClient;
  upstreams: () => Promise<UpstreamConfig[]>;
  metrics: Metrics;
  logger: Logger;
  /** Metadata files served from storage are remembered here for the fast path. */
  memo?: FileMemo;
}

/**
 * PEP 658 `<file>.metadata`. The served bytes always hash to what the page advertises for the file:
 *
 * - the stored metadata file (the METADATA the extractor read from the cached wheel, or the
 *   upstream's metadata file stored earlier), when the upstream published no sha256 for its own
 *   metadata or the stored bytes match it;
 * - otherwise the upstream's own metadata file, fetched and verified against its published sha256,
 *   and stored when nothing is yet (so later requests need no upstream).
 *
 * Metadata files are small, so they are read into memory and hashed on every request: the ETag is
 * their true sha256, and a stored file that differs from the upstream's (a private index whose
 * metadata file is not the wheel's METADATA) is never served under the upstream's hash.
 */
export class MetadataFiles {
  constructor(private readonly deps: MetadataFilesDeps) {}

  async serve(req: Request, res: Response, project: string, sha256: string, filename: string): Promise<void> {
    const stored = await this.readStored(sha256);
    let source: FileSource | null = null;
    try {
      source = await this.deps.files.source(project, sha256, filename);
    } catch (err) {
      // The upstream is unreachable: stored metadata still serves (never under another file's name).
      if (!stored || (err instanceof HttpError && err.status === 404)) throw err;
    }
    if (!source && !stored) throw notListed(project, filename);
    const published = source?.coreMetadata;
    if (stored && (published !== undefined || this.deps.protocol.advertisesExtractedMetadata(filename))) {
      const digest = sha256Hex(stored);
      if (typeof published !== 'string' || published === digest) {
        res.set('X-Orchard-Cache', 'hit');
        sendBuffer(req, res, stored, { sha256: digest, filename: `${filename}.metadata`, contentType: CONTENT_TYPE });
        // Remembered only under a name the listing confirmed (an unlisted file's name is unchecked).
        if (source) this.remember(req, res, sha256, `${filename}.metadata`, digest, stored);
        return;
      }
    }
    if (source && published === undefined && (await this.advertisedByOrchard(sha256, filename))) {
      // Advertised from the artifact cache, but the stored file is gone (storage wiped, or a new data
      // directory under an old Redis): read it from the wheel again rather than fail the client.
      const body = await this.fromWheel(project, sha256, filename);
      const digest = sha256Hex(body);
      await this.store(sha256, body, digest);
      res.set('X-Orchard-Cache', 'miss');
      sendBuffer(req, res, body, { sha256: digest, filename: `${filename}.metadata`, contentType: CONTENT_TYPE });
      return;
    }
    if (!source || published === undefined) throw notFound(`no metadata file is available for ${filename}`);
    const body = await this.fetchFromUpstream(source, filename);
    const digest = sha256Hex(body);
    if (typeof published === 'string' && digest !== published) {
      this.deps.metrics.hashMismatches.inc({ upstream: source.upstream });
      throw new HttpError(502, 'hash_mismatch', `upstream metadata for ${filename} does not match its published sha256`);
    }
    if (!stored) await this.store(sha256, body, digest);
    res.set('X-Orchard-Cache', 'miss');
    sendBuffer(req, res, body, { sha256: digest, filename: `${filename}.metadata`, contentType: CONTENT_TYPE });
  }

  /**
   * A full 200 of stored metadata is the same answer for every later request of this file: its
   * bytes are content-addressed and the digest they must match is the file's, fixed by its sha256.
   */
  private remember(req: Request, res: Response, sha256: string, servedAs: string, digest: string, body: Buffer): void {
    const { memo } = this.deps;
    if (!memo || req.method !== 'GET' || res.statusCode !== 200 || req.headers.range !== undefined) return;
    memo.put(FileMemo.metadataKey(sha256), servedAs, res.getHeaders(), `"${digest}"`, body);
  }

  /** Whether Orchard advertises metadata it extracted for this file (a wheel it has read before). */
  private async advertisedByOrchard(sha256: string, filename: string): Promise<boolean> {
    if (!this.deps.protocol.advertisesExtractedMetadata(filename)) return false;
    const cached = await this.deps.artifacts.get(this.deps.protocol.name, sha256).catch(() => null);
    return Boolean(cached?.metadataSha256);
  }

  /** The wheel's own `.dist-info/METADATA`, by random access to the (re)fetched wheel in storage. */
  private async fromWheel(project: string, sha256: string, filename: string): Promise<Buffer> {
    let location = await this.deps.files.locate(project, sha256, filename);
    const key = blobKey(sha256);
    let stat = location.kind === 'stored' ? await this.deps.store.stat(key) : null;
    if (location.kind === 'stored' && !stat) {
      location = await this.deps.files.refetch(project, sha256, filename);
      stat = location.kind === 'stored' ? await this.deps.store.stat(key) : null;
    }
    if (!stat) throw new HttpError(503, 'metadata_unavailable', `the metadata of ${filename} is not available yet; retry shortly`);
    const source = { size: stat.size, read: (start: number, end: number) => this.deps.store.readRange(key, { start, end }) };
    return (await readWheelMetadata(source, filename)).bytes;
  }

  private async readStored(sha256: string): Promise<Buffer | null> {
    const blob = await this.deps.store.get(metadataKey(sha256));
    if (!blob) return null;
    return readBounded(blob.body, MAX_METADATA_BYTES, 'stored metadata file');
  }

  private async fetchFromUpstream(source: FileSource, filename: string): Promise<Buffer> {
    const { http, metrics } = this.deps;
    const upstream = (await this.deps.upstreams()).find((u) => u.name === source.upstream);
    if (!upstream) throw new HttpError(502, 'upstream_removed', `upstream ${source.upstream} is no longer configured`);
    const response = await http.get(upstream, `${source.url}.metadata`, { headers: { 'accept-encoding': 'identity' } });
    metrics.upstreamRequests.inc({ upstream: upstream.name, kind: 'metadata', outcome: response.status === 200 ? 'ok' : 'error' });
    if (response.status !== 200) {
      response.body.resume();
      throw new HttpError(response.status === 404 ? 404 : 502, 'upstream_status', `upstream ${upstream.name} answered ${response.status} for ${filename}.metadata`);
    }
    const encoding = response.headers['content-encoding'];
    if (encoding && encoding !== 'identity') {
      response.body.resume();
      throw new HttpError(502, 'upstream_encoding', `upstream ${upstream.name} sent ${filename}.metadata with content-encoding ${String(encoding)}`);
    }
    try {
      return await readBounded(response.body, MAX_METADATA_BYTES, `${filename}.metadata`);
    } catch (err) {
      if (err instanceof BodyTooLargeError) throw new HttpError(502, 'metadata_too_large', err.message);
      throw err;
    }
  }

  /** Stores verified upstream metadata; a storage failure only costs the next request an upstream fetch. */
  private async store(sha256: string, body: Buffer, digest: string): Promise<void> {
    try {
      await this.deps.store.put(metadataKey(sha256), Readable.from([body]), { expectedSha256: digest, maxBytes: MAX_METADATA_BYTES, contentType: CONTENT_TYPE });
    } catch (err) {
      this.deps.logger.warn({ sha256, err: (err as Error).message }, 'could not store the upstream metadata file');
    }
  }
}

function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
