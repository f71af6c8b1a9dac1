/** Bounds on an upstream project page, shared by every protocol implementation and its callers. */

/** The most an upstream project page may hold; a page past either bound is refused as a whole. */
export interface PageLimits {
  /** Bytes of the body as received. */
  maxBytes: number;
  /** Files (links) the page lists. */
  maxFiles: number;
}

/**
 * Thrown by a page parser as soon as the body passes one of its {@link PageLimits}: parsing stops
 * there, nothing past the limit is kept.
 */
export class PageLimitError extends Error {
  readonly code = 'PAGE_LIMIT';
  constructor(
    readonly limit: keyof PageLimits,
    readonly max: number,
  ) {
    super(`more than ${max} ${limit === 'maxBytes' ? 'bytes' : 'files'}`);
    this.name = 'PageLimitError';
  }
}
