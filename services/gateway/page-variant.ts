import type { ServerResponse } from 'node:http';
import { LRUCache } from 'lru-cache';
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
export class PageNegotiation {
  /**
   * The choice is a pure function of three header values and clients send a handful of
   * combinations: remembered (lru-cache, 256 at most) so a warm page hit parses no header.
   */
  private readonly chosen = new LRUCache<string, ChosenVariant | 'none'>({ max: 256 });

  constructor(private readonly protocol: ProtocolAdapter) {}

  choose(request: VariantRequest, res: ServerResponse): ChosenVariant {
    PageNegotiation.vary(res);
    const chosen = this.pick(request);
    if (!chosen) throw new HttpError(406, 'not_acceptable', `acceptable formats: ${this.protocol.acceptablePageTypes}`);
    return chosen;
  }

  /** Every page answer (and its 406) varies with the two negotiated headers. */
  static vary(res: ServerResponse): void {
    res.setHeader('Vary', 'Accept, Accept-Encoding');
  }

  /** The representation for these headers, or undefined when none is acceptable (no header set). */
  pick(request: VariantRequest): ChosenVariant | undefined {
    const key = `${request.accept ?? ''}\n${request.acceptEncoding ?? ''}\n${request.format ?? ''}`;
    let chosen = this.chosen.get(key);
    if (chosen === undefined) {
      chosen = this.negotiate(request) ?? 'none';
      this.chosen.set(key, chosen);
    }
    return chosen === 'none' ? undefined : chosen;
  }

  private negotiate(request: VariantRequest): ChosenVariant | undefined {
    const format = this.protocol.negotiatePageFormat(request.accept, request.format);
    if (!format) return undefined;
    const encoding = negotiateEncoding(request.acceptEncoding);
    const variant: Variant = encoding === 'gzip' ? `${format.format}.gz` : encoding === 'br' ? `${format.format}.br` : format.format;
    return { variant, contentType: format.contentType, encoding };
  }
}

/** The strong ETag of one representation: each encoding is its own representation (RFC 9110 §8.8.3). */
export function variantEtag(base: string, variant: Variant): string {
  return `"${base}-${variant.replace('.', '-')}"`;
}
