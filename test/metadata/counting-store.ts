import { Transform } from 'node:stream';
import type { BlobStore } from '../../libs/storage/index.js';

/** What went through a {@link countingStore}: every byte handed out by reads, and the calls. */
export interface ReadCounts {
  /** Bytes returned by `readRange` plus bytes that flowed out of `get` bodies. */
  bytesRead: number;
  rangeReads: number;
  streamReads: number;
}

/**
 * Wraps a real {@link BlobStore}, counting at its boundary what the caller read: `readRange` results
 * and the bytes that actually flowed out of each `get` body (a body destroyed early counts only what
 * it delivered). Writes and everything else pass straight through.
 */
export function countingStore(inner: BlobStore): { store: BlobStore; counts: ReadCounts; reset(): void } {
  const counts: ReadCounts = { bytesRead: 0, rangeReads: 0, streamReads: 0 };
  const store: BlobStore = {
    kind: inner.kind,
    put: (key, body, options) => inner.put(key, body, options),
    async get(key, options) {
      const blob = await inner.get(key, options);
      if (!blob) return blob;
      counts.streamReads += 1;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          counts.bytesRead += chunk.length;
          done(null, chunk);
        },
      });
      blob.body.on('error', (err) => counter.destroy(err));
      counter.on('close', () => blob.body.destroy());
      return { ...blob, body: blob.body.pipe(counter) };
    },
    async readRange(key, range, signal) {
      counts.rangeReads += 1;
      const buf = await inner.readRange(key, range, signal);
      counts.bytesRead += buf.length;
      return buf;
    },
    stat: (key) => inner.stat(key),
    delete: (key) => inner.delete(key),
    removeOrphans: (startedBefore) => inner.removeOrphans(startedBefore),
    check: () => inner.check(),
    close: () => inner.close(),
  };
  return {
    store,
    counts,
    reset() {
      counts.bytesRead = 0;
      counts.rangeReads = 0;
      counts.streamReads = 0;
    },
  };
}
