import type { FileHandle } from 'node:fs/promises';
import { addAbortSignal, type Readable, type Writable } from 'node:stream';
import type { BlobRead, ByteRange } from './blob-store.js';
import type { BufferPool } from './buffer-pool.js';
import { writeFileRange } from './write-file-range.js';

/**
 * An object of the fs store, open for reading: either as a stream (`body`, made on first use) or
 * written straight to a writable through recycled buffers (`writeTo`). Whichever is used closes the
 * file when done; using neither leaves the handle to the garbage collector.
 */
export class FsBlobRead implements BlobRead {
  #body: Readable | undefined;

  constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    readonly range: ByteRange | undefined,
    private readonly options: { highWaterMark: number; buffers: BufferPool; signal?: AbortSignal },
  ) {}

  get body(): Readable {
    if (!this.#body) {
      const { highWaterMark, signal } = this.options;
      // autoClose (the default) closes the handle when the stream ends or is destroyed.
      this.#body = this.handle.createReadStream(this.range ? { ...this.range, highWaterMark } : { highWaterMark });
      if (signal) addAbortSignal(signal, this.#body);
    }
    return this.#body;
  }

  async writeTo(out: Writable): Promise<void> {
    try {
      await writeFileRange(this.handle, out, this.range ?? { start: 0, end: this.size - 1 }, this.options.buffers, this.options.signal);
    } finally {
      await this.handle.close();
    }
  }
}
