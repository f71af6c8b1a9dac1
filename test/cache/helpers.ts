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

/** Polls `probe` until it returns something other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

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
