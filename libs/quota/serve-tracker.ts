import type { StorageRepository } from '../db/index.js';
import { errorReason, type Logger } from '../log/index.js';

export interface ServeTrackerDeps {
  storage: Pick<StorageRepository, 'recordServed'>;
  /** Milliseconds between flushes to PostgreSQL. */
  flushMs: number;
  logger: Logger;
}

/** Files a flush that keeps failing (PostgreSQL down) holds on to; past it, the oldest batch is dropped. */
const MAX_PENDING_FILES = 200_000;

/**
 * When stored files are served, for least-recently-served eviction, at no measurable cost to a
 * request: a serve is one Map update in this process; a timer writes the batch to PostgreSQL in one
 * statement. A file being streamed is renewed by every flush until its stream ends, which is what
 * keeps eviction (it takes only files unused for ORCHARD_EVICTION_GRACE_S) away from it; the first
 * stream of a file since the last flush renews it at once (after this tick, off the response's path),
 * so a stream that begins just before an eviction run is not left unrenewed until the next flush.
 */
export class ServeTracker {
  private counts = new Map<string, number>();
  private readonly streaming = new Map<string, number>();
  /** Files renewed at once since the last timed flush: each at most once per flush interval. */
  private renewed = new Set<string>();
  private renewal: NodeJS.Immediate | undefined;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  /** A flush was asked for while one was being written: write again once it is done. */
  private again = false;

  constructor(private readonly deps: ServeTrackerDeps) {}

  start(): void {
    this.timer ??= setInterval(() => {
      this.renewed.clear();
      void this.flush();
    }, this.deps.flushMs).unref();
  }

  /** A request for a stored file was answered without fetching it (from storage or memory). */
  served(sha256: string): void {
    this.counts.set(sha256, (this.counts.get(sha256) ?? 0) + 1);
  }

  /** A stream of the stored file began: the file is renewed by each flush until the returned function is called. */
  streamStarted(sha256: string): () => void {
    this.streaming.set(sha256, (this.streaming.get(sha256) ?? 0) + 1);
    if (!this.renewed.has(sha256)) {
      this.renewed.add(sha256);
      // One write for every stream that began in this tick.
      this.renewal ??= setImmediate(() => {
        this.renewal = undefined;
        void this.flush();
      });
    }
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const left = (this.streaming.get(sha256) ?? 1) - 1;
      if (left > 0) this.streaming.set(sha256, left);
      else this.streaming.delete(sha256);
    };
  }

  /** Writes the serves counted since the last flush (one write at a time; one more if asked meanwhile). */
  flush(): Promise<void> {
    if (this.flushing) {
      this.again = true;
      return this.flushing;
    }
    this.flushing = (async () => {
      do {
        this.again = false;
        await this.write();
      } while (this.again);
    })().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** Stops the timer and writes what is left. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    clearImmediate(this.renewal);
    this.timer = undefined;
    await this.flushing;
    await this.flush();
  }

  private async write(): Promise<void> {
    const batch = this.counts;
    this.counts = new Map();
    for (const sha256 of this.streaming.keys()) if (!batch.has(sha256)) batch.set(sha256, 0);
    if (batch.size === 0) return;
    try {
      await this.deps.storage.recordServed(batch, new Date());
    } catch (err) {
      this.deps.logger.warn({ files: batch.size, err: errorReason(err) }, 'could not record served files; keeping them for the next flush');
      if (batch.size + this.counts.size > MAX_PENDING_FILES) return;
      for (const [sha256, n] of this.counts) batch.set(sha256, (batch.get(sha256) ?? 0) + n);
      this.counts = batch;
    }
  }
}
