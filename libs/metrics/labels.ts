/**
 * Helpers that keep label values in small fixed sets: a label value is never a project name, a
 * file name, a URL or anything else that grows with traffic.
 */

/** `2xx`, `3xx`, `4xx`, `5xx` (or `1xx`) for an HTTP status code; `other` for nonsense. */
export function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';
}

/** The HTTP method label: GET and HEAD (what index clients send), everything else folded. */
export function methodLabel(method: string | undefined): 'GET' | 'HEAD' | 'OTHER' {
  return method === 'GET' || method === 'HEAD' ? method : 'OTHER';
}
