/** Hash names and digests as PEP 503/691 carry them. */

/** Python's `hashlib.algorithms_guaranteed`: the names pip and PEP 503 accept in fragments. */
export const HASH_NAMES: ReadonlySet<string> = new Set([
  'md5',
  'sha1',
  'sha224',
  'sha256',
  'sha384',
  'sha512',
  'sha3_224',
  'sha3_256',
  'sha3_384',
  'sha3_512',
  'shake_128',
  'shake_256',
  'blake2b',
  'blake2s',
]);
const HEX = /^[0-9a-f]+$/i;

/**
 * Parses `sha256=ABC…` (a URL fragment or a `data-core-metadata` value) into a lower-case hash name
 * and lower-case hex digest. The name must be one of {@link HASH_NAMES} (so `#egg=f` is not a hash); undefined otherwise.
 */
export function parseHashPair(value: string): { name: string; digest: string } | undefined {
  const eq = value.indexOf('=');
  if (eq <= 0) return undefined;
  const name = value.slice(0, eq).toLowerCase();
  const digest = value.slice(eq + 1);
  if (!HASH_NAMES.has(name) || digest.length === 0 || !HEX.test(digest)) return undefined;
  return { name, digest: digest.toLowerCase() };
}

/** Lower-cases hash names and hex digests (non-hex values are kept as given). */
export function normalizeHashes(hashes: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, digest] of Object.entries(hashes)) {
    if (name === '__proto__') continue;
    out[name.toLowerCase()] = HEX.test(digest) ? digest.toLowerCase() : digest;
  }
  return out;
}

/** The hash to advertise for a file: sha256 when present, else the first one. */
export function preferredHash(hashes: Record<string, string>): [string, string] | undefined {
  const sha256 = hashes['sha256'];
  if (sha256 !== undefined) return ['sha256', sha256];
  return Object.entries(hashes)[0];
}
