const SHA256 = /^[0-9a-f]{64}$/;

function shard(sha256: string): string {
  if (!SHA256.test(sha256)) throw new Error(`not a sha256 hex digest: ${JSON.stringify(sha256)}`);
  return `${sha256.slice(0, 2)}/${sha256.slice(2, 4)}/${sha256}`;
}

/** Storage key of a file's bytes: `blobs/sha256/<2 hex>/<2 hex>/<sha256>`. */
export function blobKey(sha256: string): string {
  return `blobs/sha256/${shard(sha256)}`;
}

/**
 * Storage key of a PEP 658 metadata file, by the sha256 of its own bytes (content-addressed, like
 * files): `metadata/sha256/<2>/<2>/<sha256>.metadata`. Never keyed by the file it describes: the
 * listing that names a file says which metadata digest it advertises, and only bytes hashing to
 * that digest can be read under it.
 */
export function metadataKey(metadataSha256: string): string {
  return `metadata/sha256/${shard(metadataSha256)}.metadata`;
}

export function isSha256Hex(value: string): boolean {
  return SHA256.test(value);
}
