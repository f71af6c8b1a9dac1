import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { LRUCache } from 'lru-cache';
import { matchesEtag } from './send-file.js';

/** One remembered answer: exactly the headers and body express sent for it. */
export interface MemoizedResponse {
  /** Response headers of the 200 (x-request-id excluded), as `[name, value]` pairs. */
  headers: Array<[string, string]>;
  /** The same headers for a 304: without Content-Length and Content-Encoding. */
  notModifiedHeaders: Array<[string, string]>;
  etag: string;
  body: Buffer;
}

const SKIPPED = new Set(['x-request-id']);
const NOT_IN_304 = new Set(['content-length', 'content-encoding']);

/** Captures a 200 answer from its headers as sent (`res.getHeaders()`). */
export function memoizeResponse(headers: OutgoingHttpHeaders, etag: string, body: Buffer): MemoizedResponse {
  const pairs: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || SKIPPED.has(name)) continue;
    pairs.push([name, Array.isArray(value) ? value.join(', ') : String(value)]);
  }
  return { headers: pairs, notModifiedHeaders: pairs.filter(([name]) => !NOT_IN_304.has(name)), etag, body };
}

/** Answers from a memoized response: 304 when If-None-Match matches, no body for HEAD. */
export function replayResponse(req: IncomingMessage, res: ServerResponse, entry: MemoizedResponse, requestId: string): void {
  const notModified = matchesEtag(req.headers['if-none-match'], entry.etag);
  const headers = notModified ? entry.notModifiedHeaders : entry.headers;
  for (let i = 0; i < headers.length; i++) res.setHeader(headers[i]![0], headers[i]![1]);
  res.setHeader('x-request-id', requestId);
  res.statusCode = notModified ? 304 : 200;
  if (notModified || req.method === 'HEAD') res.end();
  else res.end(entry.body);
}

/**
 * A map bounded in entries and in body bytes (lru-cache): when over either bound, the least
 * recently used entries are dropped first (`get` counts as a use; `peek` does not).
 */
export class BoundedMemo<Entry extends { body: Buffer }> {
  private readonly entries: LRUCache<string, Entry> | undefined;

  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number,
  ) {
    // lru-cache needs positive bounds; a memo with none keeps nothing.
    this.entries =
      maxEntries > 0 && maxBytes > 0
        ? new LRUCache<string, Entry>({ max: maxEntries, maxSize: maxBytes, sizeCalculation: (entry) => Math.max(1, entry.body.length) })
        : undefined;
  }

  get(key: string, touch = false): Entry | undefined {
    return touch ? this.entries?.get(key) : this.entries?.peek(key);
  }

  set(key: string, entry: Entry): void {
    this.entries?.set(key, entry);
  }

  delete(key: string): void {
    this.entries?.delete(key);
  }

  clear(): void {
    this.entries?.clear();
  }

  /** Drops every entry whose key starts with `prefix`. */
  deletePrefixed(prefix: string): void {
    if (!this.entries) return;
    for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) this.entries.delete(key);
  }

  /** Entries and body bytes held. */
  get size(): { entries: number; bytes: number } {
    return { entries: this.entries?.size ?? 0, bytes: this.entries?.calculatedSize ?? 0 };
  }
}
