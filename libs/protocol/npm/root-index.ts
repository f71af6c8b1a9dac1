/** The root-index members: npm has no list of every package, so these are never called (`hasRootIndex` is false). */
import type { RootEntry, RootIndexParser } from '../types.js';

function noRootIndex(): never {
  throw new Error('npm has no root index: the registry publishes no list of every package');
}

export function createRootIndexParser(): RootIndexParser {
  return noRootIndex();
}

export function renderRootIndex(_format: unknown, _entries: Iterable<RootEntry>): Iterable<string> {
  return noRootIndex();
}
