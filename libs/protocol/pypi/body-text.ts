/** Turning a fetched body into text. */

const decoder = new TextDecoder('utf-8');

/** Decodes a body as UTF-8 (the encoding PEP 503/691 mandate), replacing invalid bytes; strips a BOM. */
export function bodyText(body: Buffer | Uint8Array | string): string {
  const text = typeof body === 'string' ? body : decoder.decode(body);
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Last non-empty path segment of a URL, percent-decoded when possible. */
export function lastPathSegment(url: URL): string {
  const segments = url.pathname.split('/').filter((s) => s.length > 0);
  const last = segments[segments.length - 1] ?? '';
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/** Resolves `href` against `base`; undefined unless the result is an http(s) URL. */
export function resolveHttpUrl(href: string, base: string | URL): URL | undefined {
  let url: URL;
  try {
    url = new URL(href.trim(), base);
  } catch {
    return undefined;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
}
