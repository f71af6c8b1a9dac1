/** Small helpers for walking parsed JSON. */
import { MalformedPageError } from '../errors.js';

export type JsonObject = Record<string, unknown>;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * How deep a value Orchard passes through and serialises again may nest: far beyond any real
 * packument, and shallow enough that JSON.stringify cannot exhaust the stack.
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
