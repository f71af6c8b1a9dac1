/** The digests of npm tarballs: read from a version's `dist`, and the identity Orchard stores them under. */
import type { FileDigest, ProjectFile } from '../types.js';

const SHA512_HEX = /^[0-9a-f]{128}$/;
const SHA1_HEX = /^[0-9a-f]{40}$/;
const SHA512_BYTES = 64;
const SHA1_BYTES = 20;

function sriDigestHex(integrity: string, algorithm: 'sha512' | 'sha1', bytes: number): string | undefined {
  // An SRI string may list several digests separated by whitespace, each with `?options`.
  for (const entry of integrity.trim().split(/\s+/)) {
    const dash = entry.indexOf('-');
    if (dash < 0 || entry.slice(0, dash).toLowerCase() !== algorithm) continue;
    const base64 = entry.slice(dash + 1).split('?')[0]!;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) continue;
    const digest = Buffer.from(base64, 'base64');
    if (digest.length === bytes) return digest.toString('hex');
  }
  return undefined;
}

/**
 * The hashes of a version's tarball from its `dist`: `sha512` from the SRI `integrity`, `sha1` from
 * `shasum` (or, for old packages, a `sha1-` integrity), as lowercase hex.
 */
export function distHashes(dist: Record<string, unknown>): Record<string, string> {
  const hashes: Record<string, string> = {};
  const integrity = typeof dist['integrity'] === 'string' ? dist['integrity'] : '';
  const sha512 = sriDigestHex(integrity, 'sha512', SHA512_BYTES);
  if (sha512 !== undefined) hashes['sha512'] = sha512;
  const shasum = typeof dist['shasum'] === 'string' ? dist['shasum'].toLowerCase() : undefined;
  const sha1 = shasum !== undefined && SHA1_HEX.test(shasum) ? shasum : sriDigestHex(integrity, 'sha1', SHA1_BYTES);
  if (sha1 !== undefined) hashes['sha1'] = sha1;
  return hashes;
}

/** The digest a tarball is verified against: its sha512 when published, else its sha1. */
export function fileDigest(file: ProjectFile): FileDigest | undefined {
  const sha512 = file.hashes['sha512']?.toLowerCase();
  if (sha512 !== undefined && SHA512_HEX.test(sha512)) return { algorithm: 'sha512', hex: sha512 };
  const sha1 = file.hashes['sha1']?.toLowerCase();
  if (sha1 !== undefined && SHA1_HEX.test(sha1)) return { algorithm: 'sha1', hex: sha1 };
  return undefined;
}

/**
 * The 64-hex identity Orchard stores a tarball under. Orchard's identities are 256 bits; for npm
 * it is the first 256 bits of the sha512 (the whole sha512 is what the bytes are verified
 * against, see {@link fileDigest}). A tarball with only a sha1 gets the sha1 left-padded with
 * zeros, which no truncated sha512 plausibly equals.
 */
export function fileIdentity(file: ProjectFile): string | undefined {
  const digest = fileDigest(file);
  if (digest === undefined) return undefined;
  return digest.algorithm === 'sha512' ? digest.hex.slice(0, 64) : '0'.repeat(24) + digest.hex;
}
