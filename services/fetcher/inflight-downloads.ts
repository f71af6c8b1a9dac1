import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import type { Logger } from '../../libs/log/index.js';
import type { FetchStreaming } from '../../libs/queue/index.js';

/** Bytes a reader gets per read of the spool file. */
const READ_CHUNK = 256 * 1024;
/** How long a finished download's spool stays readable for readers that joined just before the end. */
const FINISHED_GRACE_MS = 30_000;
/** `/inflight/<fetch job id>/<attempt token>`: each attempt of a job is its own stream. */
const PATH = /^\/inflight\/([0-9a-f]{64}-[0-9a-f]{16})\/([0-9a-f]{16})$/;

type State = 'running' | 'done' | 'failed';

/** One download this fetcher owns: its spool file, how much of it is written, how it ended. */
class Download extends EventEmitter {
  written = 0;
  state: State = 'running';
  readonly token = randomBytes(8).toString('hex');

  constructor(
    readonly file: string,
    readonly size: number | undefined,
  ) {
    super();
    this.setMaxListeners(0);
  }

  settle(state: Exclude<State, 'running'>): void {
    if (this.state !== 'running') return;
    this.state = state;
    this.emit('change');
  }
}

/**
 * The downloads this fetcher runs, readable while they run: each one's bytes are teed, as they
 * arrive from upstream, into a local spool file that any number of readers (gateways waiting for the
 * file) follow from any offset — a late joiner catches up from the file, then follows new bytes. So
 * one upstream download serves every waiting client however long it takes. A reader's answer ends
 * cleanly only once the stored file was verified; a failed download cuts it.
 *
 * Served on the fetcher's ops port at `/inflight/<fetch job id>?offset=N`; the job's progress tells
 * gateways the URL (see `FetchStreaming`).
 */
export class InflightDownloads {
  private readonly downloads = new Map<string, Download>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly options: {
      /** Local directory of the spool files. */
      dir: string;
      /** Base URL other services reach this fetcher's ops port at. */
      baseUrl: string;
      logger: Logger;
    },
  ) {
    mkdirSync(options.dir, { recursive: true });
  }

  /**
   * Starts spooling one download: the returned stream passes the bytes through unchanged once they
   * are in the spool file. `announce` gets the URL readers follow it at once its first bytes are
   * there (so a download that fails at once, its store refusing the write, is never announced), and
   * again, `verified`, once every byte is there and matched its sha256: readers then get the whole
   * file at once, without waiting for the store to make it durable. Call `verified` from the store's
   * hash check, and `settle` with the stored outcome when the download ends.
   */
  begin(jobId: string, size: number | undefined, announce: (stream: FetchStreaming) => void): { tee: Transform; verified: (size: number) => void; settle: (ok: boolean) => void } {
    const file = path.join(this.options.dir, `${jobId}-${process.pid}-${Date.now()}`);
    const download = new Download(file, size);
    this.downloads.set(jobId, download);
    const url = `${this.options.baseUrl.replace(/\/$/, '')}/inflight/${jobId}/${download.token}`;
    const onFirstBytes = () => {
      if (download.written === 0 && download.state === 'running') return;
      download.off('change', onFirstBytes);
      if (download.written > 0 && download.state === 'running') announce({ streaming: url, ...(size !== undefined ? { size } : {}) });
    };
    download.on('change', onFirstBytes);
    const tee = new SpoolTee(file, download, this.options.logger);
    let settled = false;
    const settle = (ok: boolean) => {
      download.settle(ok ? 'done' : 'failed');
      if (settled) return;
      settled = true;
      void tee.closeFile();
      const timer = setTimeout(
        () => {
          this.timers.delete(timer);
          if (this.downloads.get(jobId) === download) this.downloads.delete(jobId);
          void this.remove(file);
        },
        ok ? FINISHED_GRACE_MS : 0,
      );
      timer.unref();
      this.timers.add(timer);
    };
    const verified = (verifiedSize: number) => {
      // Every byte went through the tee into the spool before the hash check saw it.
      download.settle('done');
      announce({ streaming: url, size: verifiedSize, verified: true });
    };
    return { tee, verified, settle };
  }

  /** Answers `GET /inflight/<id>`; returns false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://fetcher');
    const match = PATH.exec(url.pathname);
    if (!match || req.method !== 'GET') return false;
    const download = this.downloads.get(match[1]!);
    const offset = Number(url.searchParams.get('offset') ?? '0');
    if (!download || download.token !== match[2] || download.state === 'failed' || !Number.isSafeInteger(offset) || offset < 0) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no such download\n');
      return true;
    }
    void this.follow(download, offset, res).catch((err: unknown) => {
      this.options.logger.debug({ err: (err as Error).message }, 'an in-flight reader ended early');
      res.destroy();
    });
    return true;
  }

  /** Removes every spool file (shutdown). */
  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const files = [...this.downloads.values()].map((d) => d.file);
    this.downloads.clear();
    await Promise.all(files.map((file) => this.remove(file)));
  }

  private async follow(download: Download, offset: number, res: ServerResponse): Promise<void> {
    const gone = new AbortController();
    res.once('close', () => gone.abort());
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      ...(download.size !== undefined ? { 'x-orchard-size': String(download.size) } : {}),
    });
    let handle: FileHandle | undefined;
    try {
      let position = offset;
      for (;;) {
        if (gone.signal.aborted) return;
        if (position < download.written) {
          handle ??= await open(download.file, 'r');
          const buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK, download.written - position));
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
          position += bytesRead;
          if (!res.write(buffer.subarray(0, bytesRead))) await once(res, 'drain', { signal: gone.signal });
          continue;
        }
        if (download.state === 'done') {
          res.end();
          return;
        }
        if (download.state === 'failed') {
          res.destroy();
          return;
        }
        await once(download, 'change', { signal: gone.signal });
      }
    } finally {
      await handle?.close();
    }
  }

  private async remove(file: string): Promise<void> {
    await rm(file, { force: true }).catch((err: unknown) => this.options.logger.warn({ file, err: (err as Error).message }, 'could not remove a spool file'));
  }
}

/** Writes each chunk to the spool file before passing it on, then tells readers it is there. */
class SpoolTee extends Transform {
  private handle: Promise<FileHandle> | undefined;

  constructor(
    private readonly file: string,
    private readonly download: Download,
    private readonly logger: Logger,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.handle ??= open(this.file, 'w');
    this.handle
      .then((handle) => handle.write(chunk))
      .then(() => {
        this.download.written += chunk.length;
        this.download.emit('change');
        callback(null, chunk);
      }, callback);
  }

  /** Closes the spool file; a failure to open or close it already failed the download or costs nothing. */
  async closeFile(): Promise<void> {
    try {
      await (await this.handle)?.close();
    } catch (err) {
      this.logger.debug({ file: this.file, err: (err as Error).message }, 'spool file not closed cleanly');
    }
  }
}
