/** Content negotiation of packuments: the abbreviated one for installers that ask for it, else the full one. */
import type { NegotiatedFormat } from '../types.js';
import { NPM_ABBREVIATED_TYPE, NPM_JSON_TYPE } from './media-types.js';
import { parseAccept, type MediaRange } from '../accept-header.js';

interface Offer extends NegotiatedFormat {
  /** Preference between offers of equal q: the full packument, as the registry answers `*\/*`. */
  rank: number;
}

const FULL: Offer = { format: 'json', contentType: NPM_JSON_TYPE, rank: 2 };
const ABBREVIATED: Offer = { format: 'abbreviated', contentType: NPM_ABBREVIATED_TYPE, rank: 1 };
const OFFERS = [FULL, ABBREVIATED];

/** The `format` query parameter's values. */
const FORMAT_PARAMS: Record<string, Offer> = { full: FULL, json: FULL, abbreviated: ABBREVIATED };

/** Every media type a client may ask for, for the 406 message. */
export const ACCEPTABLE_TYPES = `${NPM_ABBREVIATED_TYPE}, ${NPM_JSON_TYPE}`;

/** q of an offer under the most specific range that matches it (RFC 9110 §12.5.1); 0 when none does. */
function quality(offer: Offer, ranges: MediaRange[]): number {
  let best = { q: 0, specificity: 0 };
  for (const range of ranges) {
    const specificity = range.type === offer.contentType ? 3 : range.type === 'application/*' ? 2 : range.type === '*/*' ? 1 : 0;
    if (specificity > best.specificity) best = { q: range.q, specificity };
    else if (specificity > 0 && specificity === best.specificity) best.q = Math.max(best.q, range.q);
  }
  return best.q;
}

/**
 * Picks the packument format. npm and pnpm send
 * `application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, *\/*` and get the
 * abbreviated one; `application/json`, `*\/*` or no Accept get the full one. q-values are honoured
 * (`q=0` refuses); the `format` query parameter (`full`/`json`, `abbreviated`) overrides the
 * header. Null when nothing is acceptable (the caller answers 406).
 */
export function negotiatePageFormat(accept: string | undefined, format?: string): NegotiatedFormat | null {
  const toResult = (offer: Offer): NegotiatedFormat => ({ format: offer.format, contentType: offer.contentType });
  if (format !== undefined) {
    const offer = FORMAT_PARAMS[format.trim().toLowerCase()];
    return offer ? toResult(offer) : null;
  }
  if (!accept || !accept.trim()) return toResult(FULL);
  const ranges = parseAccept(accept);
  let best: { offer: Offer; q: number } | undefined;
  for (const offer of OFFERS) {
    const q = quality(offer, ranges);
    if (q > 0 && (!best || q > best.q || (q === best.q && offer.rank > best.offer.rank))) best = { offer, q };
  }
  return best ? toResult(best.offer) : null;
}
