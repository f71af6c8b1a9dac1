import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Milliseconds of page work (parsing, rendering) between two turns of the event loop: other
 * requests wait at most about this long for a fill of a huge page.
 */
export const SLICE_MS = 8;

/**
 * Cuts long synchronous work into slices: {@link pause} lets the event loop run (I/O, other
 * requests) once `sliceMs` have passed since the last turn, and returns at once before that.
 */
export class TimeSlices {
  private sliceStart = performance.now();

  constructor(private readonly sliceMs = SLICE_MS) {}

  /** Whether the current slice is used up (a caller about to pause may check first). */
  get due(): boolean {
    return performance.now() - this.sliceStart >= this.sliceMs;
  }

  async pause(): Promise<void> {
    if (!this.due) return;
    await nextTurn();
    this.sliceStart = performance.now();
  }

  /** Collects chunks of text into one buffer, pausing between chunks; `onChunk` sees each chunk's bytes. */
  async collect(chunks: Iterable<string>, onChunk?: (bytes: Buffer) => void): Promise<Buffer> {
    const parts: Buffer[] = [];
    let length = 0;
    for (const chunk of chunks) {
      const bytes = Buffer.from(chunk);
      onChunk?.(bytes);
      parts.push(bytes);
      length += bytes.length;
      await this.pause();
    }
    return Buffer.concat(parts, length);
  }
}
