import type { Request, Response } from 'express';
import { HttpError } from './http-errors.js';
import { ACCEPTABLE_TYPES, negotiateEncoding, negotiatePageFormat, type PageFormat } from './negotiate.js';

/** A page representation: the format, optionally pre-compressed (`html.gz`, `json.br`, …). */
export type Variant = PageFormat | `${PageFormat}.gz` | `${PageFormat}.br`;

export interface ChosenVariant {
  variant: Variant;
  contentType: string;
  encoding: 'gzip' | 'br' | null;
}

/**
 * Picks the representation of an index page for a request (PEP 691 `Accept` with q-values, the
 * `format` query parameter, `Accept-Encoding`) and sets `Vary` (also on the 406 it throws when no
 * format is acceptable, so caches keep the answers apart).
 */
export function choosePageVariant(req: Request, res: Response): ChosenVariant {
  res.vary('Accept').vary('Accept-Encoding');
  const format = typeof req.query.format === 'string' ? req.query.format : undefined;
  const chosen = negotiatePageFormat(req.headers.accept, format);
  if (!chosen) throw new HttpError(406, 'not_acceptable', `acceptable formats: ${ACCEPTABLE_TYPES}`);
  const encoding = negotiateEncoding(req.headers['accept-encoding']);
  const variant: Variant = encoding === 'gzip' ? `${chosen.format}.gz` : encoding === 'br' ? `${chosen.format}.br` : chosen.format;
  return { variant, contentType: chosen.contentType, encoding };
}

/** The strong ETag of one representation: each encoding is its own representation (RFC 9110 §8.8.3). */
export function variantEtag(base: string, variant: Variant): string {
  return `"${base}-${variant.replace('.', '-')}"`;
}
