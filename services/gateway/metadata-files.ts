import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ArtifactCache, CachedArtifact, FileSource } from '../../libs/cache/index.js';
import type { UpstreamConfig } from '../../libs/config/index.js';
import type { UpstreamClient } from '../../libs/http/index.js';
import type { Logger } from '../../libs/log/index.js';
import type { Metrics } from '../../libs/metrics/index.js';
import { BodyTooLargeError, readBounded } from '../../libs/pages/index.js';
import type { ProtocolAdapter } from '../../libs/protocol/index.js';
import { blobKey, metadataKey, type BlobStore, sha256Digest } from '../../libs/storage/index.js';
import { notListed, type FileLocator } from './file-locator.js';
import { HttpError, notFound } from './http-errors.js';
import { ReadMemo } from './read-memo.js';
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
  /** Verified metadata files read from storage are remembered here by URL path. */
  memo: ReadMemo;
}

/** The digest a listing's page advertises for a file's metadata, and where bytes of it come from. */
type Advertised = { sha256: string; from: 'upstream' | 'wheel' };

/**
 * PEP 658 `<file>.metadata`. Metadata files are stored by their own sha256 (content-addressed), so
 * no listing can put bytes where another listing's answer reads them. What a request gets is decided
 * by the listing that names the file (project, sha256, file name):
 *
 * - the listing advertises a digest (the upstream's published one, or the one of the METADATA
 *   Orchard read from the verified wheel): the stored file of that digest, or else the upstream's
 *   metadata file (or the wheel's METADATA) verified against that digest, then stored under it;
 * - the upstream advertises metadata without a hash: the METADATA of the wheel when Orchard has the
 *   wheel (the verified wheel is the authority), otherwise the upstream's bytes passed through for
 *   this request only: never stored, never remembered, `Cache-Control: no-store`;
 * - nothing advertised: 404.
 */
export class MetadataFiles {
  constructor(private readonly deps: MetadataFilesDeps) {}

  async serve(req: IncomingMessage, res: ServerResponse, project: string, sha256: string, filename: string): Promise<void> {
    const source = await this.listing(project, sha256, filename);
    const advertised = await this.advertised(sha256, filename, source);
    if (advertised) {
      const stored = await this.readStored(advertised.sha256);
      if (stored) {
        res.setHeader('X-Orchard-Cache', 'hit');
        this.deps.memo.putFile(ReadMemo.fileKey(project, sha256, `${filename}.metadata`), { kind: 'file', body: stored, sha256: advertised.sha256, contentType: CONTENT_TYPE });
        this.send(req, res, stored, advertised.sha256, filename);
        return;
      }
      const body = advertised.from === 'upstream' ? await this.fetchFromUpstream(source!, filename) : await this.fromWheel(project, sha256, filename);
      this.verify(body, advertised, filename, source?.upstream);
      await this.store(advertised.sha256, body);
      res.setHeader('X-Orchard-Cache', 'miss');
      this.send(req, res, body, advertised.sha256, filename);
      return;
    }
    if (source?.coreMetadata !== true) throw notFound(`no metadata file is available for ${filename}`);
    if (this.deps.protocol.advertisesExtractedMetadata(filename) && (await this.deps.store.stat(blobKey(sha256)))) {
      const body = await this.fromWheel(project, sha256, filename);
      const digest = sha256Hex(body);
      await this.store(digest, body);
      res.setHeader('X-Orchard-Cache', 'hit');
      this.send(req, res, body, digest, filename);
      return;
    }
    const body = await this.fetchFromUpstream(source, filename);
    res.setHeader('X-Orchard-Cache', 'pass-through');
    this.send(req, res, body, sha256Hex(body), filename, 'no-store');
  }

  /**
   * The listing's source of the file; null when the listing cannot be read (upstream down, no cached
   * map) but Orchard extracted this file's metadata under exactly this name itself.
   */
  private async listing(project: string, sha256: string, filename: string): Promise<FileSource | null> {
    let source: FileSource | null;
    try {
      source = await this.deps.files.source(project, sha256, filename);
    } catch (err) {
      const cached = await this.cachedRecord(sha256);
      if (cached?.metadataSha256 && cached.filename === filename) return null;
      throw err;
    }
    if (!source) throw notListed(project, filename);
    return source;
  }

  /** What the page serving this listing advertises (see `renderPage`), or undefined. */
  private async advertised(sha256: string, filename: string, source: FileSource | null): Promise<Advertised | undefined> {
    if (typeof source?.coreMetadata === 'string') return { sha256: source.coreMetadata, from: 'upstream' };
    if (!this.deps.protocol.advertisesExtractedMetadata(filename)) return undefined;
    const cached = await this.cachedRecord(sha256);
    return cached?.metadataSha256 ? { sha256: cached.metadataSha256, from: 'wheel' } : undefined;
  }

  /** The artifact cache's record of the file (which metadata Orchard extracted); null when Redis cannot say. */
  private cachedRecord(sha256: string): Promise<CachedArtifact | null> {
    return this.deps.artifacts.get(this.deps.protocol.name, sha256).catch((err: unknown) => {
      this.deps.logger.debug({ sha256, err: (err as Error).message }, 'artifact cache unavailable for a metadata lookup');
      return null;
    });
  }

  private send(req: IncomingMessage, res: ServerResponse, body: Buffer, digest: string, filename: string, cacheControl?: string): void {
    sendBuffer(req, res, body, { sha256: digest, filename: `${filename}.metadata`, contentType: CONTENT_TYPE, cacheControl });
  }

  private verify(body: Buffer, expected: Advertised, filename: string, upstream: string | undefined): void {
    if (sha256Hex(body) === expected.sha256) return;
    if (upstream) this.deps.metrics.hashMismatches.inc({ upstream });
    const by = expected.from === 'upstream' ? 'published' : 'advertised';
    throw new HttpError(502, 'hash_mismatch', `the metadata file of ${filename} does not match its ${by} sha256`);
  }

  /** The file's own metadata (a wheel's `.dist-info/METADATA`), read by random access from the (re)fetched file in storage. */
  private async fromWheel(project: string, sha256: string, filename: string): Promise<Buffer> {
    const { files, store } = this.deps;
    const key = blobKey(sha256);
    let location = await files.locate(project, sha256, filename);
    if (location.kind === 'stored' && !(await store.stat(key))) location = await files.refetch(project, sha256, filename);
    if (location.kind === 'inflight') location = (await files.untilStored(location)) ?? location;
    const stat = location.kind === 'stored' ? await store.stat(key) : null;
    if (!stat) throw new HttpError(503, 'metadata_unavailable', `the metadata of ${filename} is not available yet; retry shortly`);
    const source = { size: stat.size, read: (start: number, end: number) => this.deps.store.readRange(key, { start, end }) };
    return this.deps.protocol.readMetadataFile(filename, source);
  }

  /** The stored metadata file of this digest; null when absent (or, on corruption, when it does not hash to it). */
  private async readStored(digest: string): Promise<Buffer | null> {
    const blob = await this.deps.store.get(metadataKey(digest));
    if (!blob) return null;
    const body = await readBounded(blob.body, MAX_METADATA_BYTES, 'stored metadata file');
    if (sha256Hex(body) === digest) return body;
    this.deps.logger.warn({ digest }, 'a stored metadata file does not hash to its key; reading it again');
    return null;
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

  /** Stores verified metadata under its own digest; a storage failure only costs a later request a re-read. */
  private async store(digest: string, body: Buffer): Promise<void> {
    try {
      await this.deps.store.put(metadataKey(digest), Readable.from([body]), { expected: sha256Digest(digest), maxBytes: MAX_METADATA_BYTES, contentType: CONTENT_TYPE });
    } catch (err) {
      this.deps.logger.warn({ digest, err: (err as Error).message }, 'could not store a metadata file');
    }
  }
}

function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
