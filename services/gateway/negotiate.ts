/** The two page formats Orchard serves. */
export type PageFormat = 'html' | 'json';

export const CONTENT_TYPES: Record<PageFormat | 'legacy-html', string> = {
  json: 'application/vnd.pypi.simple.v1+json',
  html: 'application/vnd.pypi.simple.v1+html',
  'legacy-html': 'text/html; charset=utf-8',
};

interface Offer {
  format: PageFormat;
  contentType: string;
  /** Server preference among equal q-values (PEP 691: JSON first). */
  rank: number;
}

const OFFERS: Record<string, Offer> = {
  'application/vnd.pypi.simple.v1+json': { format: 'json', contentType: CONTENT_TYPES.json, rank: 3 },
  'application/vnd.pypi.simple.latest+json': { format: 'json', contentType: CONTENT_TYPES.json, rank: 3 },
  'application/vnd.pypi.simple.v1+html': { format: 'html', contentType: CONTENT_TYPES.html, rank: 2 },
  'application/vnd.pypi.simple.latest+html': { format: 'html', contentType: CONTENT_TYPES.html, rank: 2 },
  'text/html': { format: 'html', contentType: CONTENT_TYPES['legacy-html'], rank: 1 },
};

/**
 * PEP 691 content negotiation with q-values. No Accept header (or `*\/*`) gets legacy text/html,
 * as PyPI does; `format` (the query parameter) overrides. Returns null when nothing is acceptable.
 */
export function negotiatePageFormat(accept: string | undefined, format?: string): { format: PageFormat; contentType: string } | null {
  if (format) {
    const offer = OFFERS[format.toLowerCase()];
    return offer ? { format: offer.format, contentType: offer.contentType } : null;
  }
  if (!accept || !accept.trim()) return { format: 'html', contentType: CONTENT_TYPES['legacy-html'] };
  let best: (Offer & { q: number }) | null = null;
  for (const part of accept.split(',')) {
    const [rawType, ...params] = part.trim().split(';');
    const type = rawType?.trim().toLowerCase() ?? '';
    let q = 1;
    for (const param of params) {
      const [k, v] = param.split('=').map((s) => s.trim());
      if (k?.toLowerCase() === 'q') q = Number.parseFloat(v ?? '');
    }
    if (!Number.isFinite(q) || q <= 0) continue;
    const candidates =
      type === '*/*' || type === 'text/*' || type === 'application/*'
        ? [type === 'application/*' ? OFFERS['application/vnd.pypi.simple.v1+json']! : OFFERS['text/html']!]
        : OFFERS[type]
          ? [OFFERS[type]!]
          : [];
    for (const offer of candidates) {
      if (!best || q > best.q || (q === best.q && offer.rank > best.rank)) best = { ...offer, q };
    }
  }
  return best ? { format: best.format, contentType: best.contentType } : null;
}

/** The best encoding of the ones pre-compressed per page: br, then gzip, then none. */
export function negotiateEncoding(acceptEncoding: string | undefined): 'br' | 'gzip' | null {
  if (!acceptEncoding) return null;
  const q = new Map<string, number>();
  for (const part of acceptEncoding.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    let value = 1;
    for (const p of params) {
      const [k, v] = p.split('=').map((s) => s.trim());
      if (k === 'q') value = Number.parseFloat(v ?? '');
    }
    if (name) q.set(name, Number.isFinite(value) ? value : 0);
  }
  const star = q.get('*');
  const score = (enc: string) => q.get(enc) ?? star ?? 0;
  if (score('br') > 0 && score('br') >= score('gzip')) return 'br';
  if (score('gzip') > 0) return 'gzip';
  return null;
}
