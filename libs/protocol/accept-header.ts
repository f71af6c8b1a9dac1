/** One media range of an `Accept` header and its q-value. */
export interface MediaRange {
  /** Lower-cased `type/subtype` (wildcards as sent). */
  type: string;
  q: number;
}

/**
 * Parses an Accept header into media ranges (RFC 9110 §12.5.1), for the protocols' negotiation;
 * malformed entries are skipped, a malformed q counts as 0.
 */
export function parseAccept(accept: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const part of accept.split(',')) {
    const [rawType, ...params] = part.split(';');
    const type = rawType?.trim().toLowerCase() ?? '';
    if (!/^[a-z0-9!#$&^_.+*-]+\/[a-z0-9!#$&^_.+*-]+$/.test(type)) continue;
    let q = 1;
    for (const param of params) {
      const eq = param.indexOf('=');
      if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'q') continue;
      const value = param.slice(eq + 1).trim();
      q = /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(value) ? Number(value) : 0;
    }
    ranges.push({ type, q });
  }
  return ranges;
}
