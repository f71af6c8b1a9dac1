/**
 * The best encoding of the ones pre-compressed per page: br, then gzip, then none. (Page formats are
 * the protocol's to negotiate: `ProtocolAdapter.negotiatePageFormat`.)
 */
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
