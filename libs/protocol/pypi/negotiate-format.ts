/** PEP 691 content negotiation of index pages. */
import type { NegotiatedFormat, PageFormat } from '../types.js';
import { parseAccept, type MediaRange } from '../accept-header.js';

const CONTENT_TYPES: Record<Exclude<PageFormat, 'abbreviated'> | 'legacy-html', string> = {
  json: 'application/vnd.pypi.simple.v1+json',
  html: 'application/vnd.pypi.simple.v1+html',
  'legacy-html': 'text/html; charset=utf-8',
};

interface Offer extends NegotiatedFormat {
  /** Media types that name this offer exactly (PEP 691's `latest` aliases included). */
  names: readonly string[];
  /** The offer's top-level type, for `type/*` ranges. */
  type: 'application' | 'text';
  /** Preference among offers a client named explicitly with equal q: JSON first (PEP 691). */
  explicitRank: number;
  /** Preference among offers matched only by a wildcard: the legacy text/html first, as PyPI does. */
  wildcardRank: number;
}

const OFFERS: readonly Offer[] = [
  {
    format: 'json',
    contentType: CONTENT_TYPES.json,
    names: ['application/vnd.pypi.simple.v1+json', 'application/vnd.pypi.simple.latest+json'],
    type: 'application',
    explicitRank: 3,
    wildcardRank: 1,
  },
  {
    format: 'html',
    contentType: CONTENT_TYPES.html,
    names: ['application/vnd.pypi.simple.v1+html', 'application/vnd.pypi.simple.latest+html'],
    type: 'application',
    explicitRank: 2,
    wildcardRank: 2,
  },
  {
    format: 'html',
    contentType: CONTENT_TYPES['legacy-html'],
    names: ['text/html'],
    type: 'text',
    explicitRank: 1,
    wildcardRank: 3,
  },
];

/** Every media type a client may ask for, for the 406 message. */
export const ACCEPTABLE_TYPES = OFFERS.map((o) => o.names[0]!).join(', ');

/** q of an offer under the most specific matching range (RFC 9110 §12.5.1), and that specificity. */
function quality(offer: Offer, ranges: MediaRange[]): { q: number; specificity: number } {
  let best = { q: 0, specificity: 0 };
  for (const range of ranges) {
    const specificity = offer.names.includes(range.type) ? 3 : range.type === `${offer.type}/*` ? 2 : range.type === '*/*' ? 1 : 0;
    if (specificity === 0 || specificity < best.specificity) continue;
    // Same specificity twice (v1 and latest aliases): the higher q.
    best = specificity > best.specificity ? { q: range.q, specificity } : { q: Math.max(best.q, range.q), specificity };
  }
  return best;
}

/**
 * PEP 691 content negotiation. q-values are honoured, and the most specific matching range decides
 * an offer's q (`text/html;q=0.1, *\/*` ranks text/html at 0.1). Among equal q, a type the client
 * named beats one it only matched by wildcard; among named types JSON wins, among wildcard matches
 * the legacy `text/html` does (so browsers and curl get HTML, as from PyPI). No Accept header gets
 * `text/html`. The `format` query parameter, when given, names the content type and overrides the
 * header. Returns null when nothing is acceptable (the caller answers 406).
 */
export function negotiatePageFormat(accept: string | undefined, format?: string): NegotiatedFormat | null {
  if (format !== undefined) {
    const wanted = format.trim().toLowerCase();
    const offer = OFFERS.find((o) => o.names.includes(wanted));
    return offer ? { format: offer.format, contentType: offer.contentType } : null;
  }
  if (!accept || !accept.trim()) return { format: 'html', contentType: CONTENT_TYPES['legacy-html'] };
  const ranges = parseAccept(accept);
  let best: { offer: Offer; q: number; specificity: number; rank: number } | null = null;
  for (const offer of OFFERS) {
    const { q, specificity } = quality(offer, ranges);
    if (q <= 0) continue;
    const rank = specificity === 3 ? offer.explicitRank : offer.wildcardRank;
    const explicit = specificity === 3 ? 1 : 0;
    const bestExplicit = best && best.specificity === 3 ? 1 : 0;
    if (!best || q > best.q || (q === best.q && (explicit > bestExplicit || (explicit === bestExplicit && rank > best.rank)))) {
      best = { offer, q, specificity, rank };
    }
  }
  return best ? { format: best.offer.format, contentType: best.offer.contentType } : null;
}
