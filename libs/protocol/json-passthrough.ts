import { MalformedPageError } from './errors.js';
import { PageLimitError, type PageLimits } from './page-limits.js';

/**
 * How deep a value Orchard passes through unchanged (unknown keys, `meta`, npm manifests) may nest.
 * Far beyond anything an index sends; a deeper one is refused, since serialising it again would
 * exhaust the stack.
 */
export const MAX_PASSTHROUGH_DEPTH = 64;

/** Throws unless `value` nests at most {@link MAX_PASSTHROUGH_DEPTH} levels (walked without recursion). */
export function checkDepth(value: unknown, where: string): void {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth >= MAX_PASSTHROUGH_DEPTH) throw new MalformedPageError(`${where} nests deeper than ${MAX_PASSTHROUGH_DEPTH} levels`);
    for (const child of Object.values(current)) {
      if (typeof child === 'object' && child !== null) stack.push({ value: child, depth: depth + 1 });
    }
  }
}

/**
 * Collects a JSON page's body up to `limits.maxBytes` (there is no incremental JSON parser here, so
 * the bytes bound what one JSON.parse costs): `write` throws PageLimitError past it, `take` returns
 * the body once and lets the chunks go.
 */
export function boundedBody(limits: Pick<PageLimits, 'maxBytes'>): { write(chunk: Buffer): void; take(): Buffer } {
  const chunks: Buffer[] = [];
  let bytes = 0;
  return {
    write(chunk) {
      bytes += chunk.length;
      if (bytes > limits.maxBytes) throw new PageLimitError('maxBytes', limits.maxBytes);
      chunks.push(chunk);
    },
    take() {
      const body = Buffer.concat(chunks, bytes);
      chunks.length = 0;
      return body;
    },
  };
}
