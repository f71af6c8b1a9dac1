/** Helpers for the step-wise page parsers (see ProjectPageParser). */
import type { PageLimits } from '../page-limits.js';
import type { ProjectPage, ProjectPageParser } from '../types.js';

/** No bounds: for callers that parse a body they already hold (tests, tools). */
export const UNLIMITED: PageLimits = { maxBytes: Infinity, maxFiles: Infinity };

/** Runs a step-wise computation to its end without pausing. */
export function runToEnd<T>(steps: Generator<void, T, undefined>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** Feeds a whole body, already in hand, to a step-wise page parser and builds the page without pausing. */
export function parseWholeBody(parser: ProjectPageParser, body: Buffer | Uint8Array | string): ProjectPage {
  parser.write(typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  return runToEnd(parser.end());
}
