/** Small helpers the cache and upstream tests share. */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';

export interface Fetched {
  status: number;
  headers: Headers;
  body: Buffer;
  text: string;
}

/** GET (or another method) and read the whole body. */
export async function get(url: string, init: RequestInit = {}): Promise<Fetched> {
  const res = await fetch(url, init);
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body, text: body.toString('utf8') };
}

export { waitFor } from '../support/wait.js';

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Where the fs store keeps a file's bytes. */
export function blobPath(dataDir: string, digest: string): string {
  return path.join(dataDir, 'blobs', 'sha256', digest.slice(0, 2), digest.slice(2, 4), digest);
}

export async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/** The gateway URL of a file Orchard lists (as its pages link it). */
export function fileUrl(gateway: string, project: string, digest: string, filename: string): string {
  return `${gateway}/files/${project}/${digest}/${encodeURIComponent(filename)}`;
}
