/** Helpers for the step-wise page parsers (see ProjectPageParser). */
import type { PageLimits } from '../page-limits.js';

/** No bounds: for callers that parse a body they already hold (tests, tools). */
export const UNLIMITED: PageLimits = { maxBytes: Infinity, maxFiles: Infinity };

/** Runs a step-wise computation to its end without pausing. */
export function runToEnd<T>(steps: Generator<void, T, undefined>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}
