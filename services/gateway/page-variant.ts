import type { ServerResponse } from 'node:http';
import type { PageFormat, ProtocolAdapter } from '../../libs/protocol/index.js';
import { HttpError } from './http-errors.js';
import { negotiateEncoding } from './negotiate.js';

/** A page representation: the format, optionally pre-compressed (`html.gz`, `json.br`, …). */
export type Variant = PageFormat | `${PageFormat}.gz` | `${PageFormat}.br`;

export interface ChosenVariant {
  variant: Variant;
  contentType: string;
  encoding: 'gzip' | 'br' | null;
}

/** What a page representation is chosen by: the request's headers and its `format` query parameter. */
export interface VariantRequest {
  accept: string | undefined;
  acceptEncoding: string | undefined;
  format: string | undefined;
}

/**
 * Picks the representation of an index page for a request (the protocol's negotiation of `Accept`
 * and the `format` query parameter, then `Accept-Encoding`) and sets `Vary` (also on the 406 it
 * throws when no format is acceptable, so caches keep the answers apart).
 */
export function choosePageVariant(request: VariantRequest, res: ServerResponse, protocol: ProtocolAdapter): ChosenVariant {
  res.setHeader('Vary', 'Accept, Accept-Encoding');
  const chosen = protocol.negotiatePageFormat(request.accept, request.format);
  if (!chosen) throw new HttpError(406, 'not_acceptable', `acceptable formats: ${protocol.acceptablePageTypes}`);
  const encoding = negotiateEncoding(request.acceptEncoding);
  const variant: Variant = encoding === 'gzip' ? `${chosen.format}.gz` : encoding === 'br' ? `${chosen.format}.br` : chosen.format;
  return { variant, contentType: chosen.contentType, encoding };
}

/** The strong ETag of one representation: each encoding is its own representation (RFC 9110 §8.8.3). */
export function variantEtag(base: string, variant: Variant): string {
  return `"${base}-${variant.replace('.', '-')}"`;
}
