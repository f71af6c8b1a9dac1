import { Router, type Request, type Response } from 'express';
import type { UpstreamConfig } from '../../../libs/config/index.js';
import type { UpstreamClient } from '../../../libs/http/index.js';
import type { Metrics } from '../../../libs/metrics/index.js';
import type { ProtocolAdapter } from '../../../libs/protocol/types.js';
import { blobKey, isSha256Hex, type BlobStore } from '../../../libs/storage/index.js';
import type { FileLocator } from '../file-locator.js';
import { HttpError, badRequest } from '../http-errors.js';
import { FileMemo } from '../file-memo.js';
import { sendBuffer, sendStoredFile } from '../send-file.js';
import { streamFromFetcher, type FetcherStreamDeps } from '../stream-from-fetcher.js';
import { streamFromUpstream } from '../stream-from-upstream.js';
import type { MetadataFiles } from '../metadata-files.js';
import { BodyTooLargeError, readBounded } from '../../../libs/pages/index.js';

export interface FileRoutesDeps {
  protocol: ProtocolAdapter;
  files: FileLocator;
  metadata: MetadataFiles;
  store: BlobStore;
  http: UpstreamClient;
  upstreams: () => Promise<UpstreamConfig[]>;
  metrics: Metrics;
  /** ORCHARD_MAX_FILE_BYTES: the largest file streamed straight from an upstream. */
  maxFileBytes: number;
  /** `redirect`: cached files answer 307 to a presigned storage URL (s3) instead of streaming. */
  downloadMode?: 'stream' | 'redirect';
  /** Small files served whole from storage are remembered here for the fast path. */
  memo?: FileMemo;
  /** Following downloads in progress at the fetcher that owns them. */
  inflight: FetcherStreamDeps;
}

const FILENAME = /^[A-Za-z0-9][A-Za-z0-9._+!-]{0,254}$/;

/** `/files/<project>/<sha256>/<filename>` and its PEP 658 `.metadata` sibling. */
export function fileRoutes(deps: FileRoutesDeps): Router {
  const router = Router({ strict: true });
  router.get('/files/:project/:sha256/:filename', async (req, res) => {
    const { project, sha256, filename } = validate(req, deps.protocol);
    if (filename.endsWith('.metadata')) {
      res.locals.route = 'metadata';
      await deps.metadata.serve(req, res, project, sha256, filename.slice(0, -'.metadata'.length));
      return;
    }
    res.locals.route = 'file';
    await serveFile(req, res, deps, project, sha256, filename);
  });
  return router;
}

function validate(req: Request, protocol: ProtocolAdapter): { project: string; sha256: string; filename: string } {
  const project = String(req.params.project);
  const sha256 = String(req.params.sha256);
  const filename = String(req.params.filename);
  if (!protocol.isValidProjectName(project) || protocol.normalizeName(project) !== project) throw badRequest('invalid project name');
  if (!isSha256Hex(sha256)) throw badRequest('invalid file id: expected a lowercase sha256');
  if (!FILENAME.test(filename) || filename.includes('..')) throw badRequest('invalid file name');
  return { project, sha256, filename };
}

async function serveFile(req: Request, res: Response, deps: FileRoutesDeps, project: string, sha256: string, filename: string): Promise<void> {
  let location = await deps.files.locate(project, sha256, filename);
  // A byte range (a resumed download, uv reading a wheel's central directory) is answered from
  // storage: a download in progress is awaited for a while rather than answered in full.
  if (location.kind === 'inflight' && req.headers.range !== undefined) location = (await deps.files.untilStored(location)) ?? location;
  const send = (size?: number) =>
    sendStoredFile(req, res, deps.store, deps.metrics, {
      key: blobKey(sha256),
      sha256,
      filename,
      contentType: 'application/octet-stream',
      size,
      redirect: deps.downloadMode === 'redirect',
    });
  if (location.kind === 'stored') {
    if (location.size !== undefined && memoizable(req, deps, location.size)) {
      if (await sendMemoized(req, res, deps, { project, sha256, filename, size: location.size })) return;
    } else if (await send(location.size)) return;
    location = await deps.files.refetch(project, sha256, filename);
    if (location.kind === 'stored') {
      if (await send()) return;
      throw inconsistentStorage();
    }
  }
  if (location.kind === 'inflight' && (await streamFromFetcher(req, res, deps.inflight, location, sha256, filename))) return;
  // No fetcher took the job in time, or its download broke before a byte (or the queue is down):
  // the one fallback that streams from the upstream itself.
  const upstream = (await deps.upstreams()).find((u) => u.name === location.source.upstream);
  res.set('X-Orchard-Cache', 'pass-through');
  await streamFromUpstream(req, res, deps.http, upstream, location.source, sha256, deps.metrics, deps.maxFileBytes);
}

/** A plain full GET of a file small enough for the memo (ranges and conditionals stream as usual). */
function memoizable(req: Request, deps: FileRoutesDeps, size: number): boolean {
  return (
    deps.memo !== undefined &&
    deps.memo.accepts(size) &&
    deps.downloadMode !== 'redirect' &&
    req.method === 'GET' &&
    req.headers.range === undefined &&
    req.headers['if-none-match'] === undefined
  );
}

/**
 * Reads a small stored file whole, sends it with the same headers as a streamed one, and remembers
 * the answer for the fast path. Returns false when the store does not have it.
 */
async function sendMemoized(
  req: Request,
  res: Response,
  deps: FileRoutesDeps,
  file: { project: string; sha256: string; filename: string; size: number },
): Promise<boolean> {
  const blob = await deps.store.get(blobKey(file.sha256));
  if (!blob) return false;
  let body: Buffer;
  try {
    body = await readBounded(blob.body, file.size, file.filename);
  } catch (err) {
    if (err instanceof BodyTooLargeError) throw inconsistentStorage();
    throw err;
  }
  if (body.length !== file.size) throw inconsistentStorage();
  const etag = `"${file.sha256}"`;
  res.once('finish', () => deps.metrics.bytesServed.inc({ source: 'storage' }, body.length));
  sendBuffer(req, res, body, { sha256: file.sha256, filename: file.filename, contentType: 'application/octet-stream' });
  deps.memo!.put(FileMemo.path(file.project, file.sha256, file.filename), res.getHeaders(), etag, body);
  return true;
}

function inconsistentStorage(): HttpError {
  return new HttpError(503, 'storage_inconsistent', 'the cached file is not readable from storage right now');
}
