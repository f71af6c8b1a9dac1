/**
 * Read buffers of one size, handed out and taken back, so a process streaming large files reuses the
 * same memory instead of allocating a fresh buffer per chunk. Fresh buffers of this size come from
 * `mmap`: their pages fault in on first touch and return to the kernel when freed, and that churn
 * (not the copying) was most of the gateway's time on a cached wheel in the slow runs of issue 18.
 */
export class BufferPool {
  readonly #free: Buffer[] = [];

  /** `keep`: at most this many idle buffers stay in the pool; the rest are left to the collector. */
  constructor(
    readonly bufferBytes: number,
    private readonly keep: number,
  ) {}

  take(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(this.bufferBytes);
  }

  /** Only once nothing refers to the buffer's bytes any more (a write's callback has run). */
  give(buffer: Buffer): void {
    if (this.#free.length < this.keep) this.#free.push(buffer);
  }

  /** Idle buffers held (for tests). */
  get idle(): number {
    return this.#free.length;
  }
}
