/** Minimal HTML escaping for rendered pages (string concatenation, no DOM). */

const ATTR = /[&<>"']/g;
const TEXT = /[&<>]/g;
// Separate non-global twins for the fast path: `test` on a /g regex is stateful (lastIndex).
const HAS_ATTR = /[&<>"']/;
const HAS_TEXT = /[&<>]/;
const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
const replace = (c: string): string => ENTITIES[c] ?? c;

/** Escapes a value for use inside a double- or single-quoted attribute. */
export function escapeAttribute(value: string): string {
  return HAS_ATTR.test(value) ? value.replace(ATTR, replace) : value;
}

/** Escapes text content. */
export function escapeText(value: string): string {
  return HAS_TEXT.test(value) ? value.replace(TEXT, replace) : value;
}
