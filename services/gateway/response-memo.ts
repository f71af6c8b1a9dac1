import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
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
 * A map bounded in entries and in body bytes; when over either bound, the entries that have gone
 * longest without being set (or, with `touch`, read) are dropped first.
 */
export class BoundedMemo<Entry extends { body: Buffer }> {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number,
  ) {}

  get(key: string, touch = false): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry && touch) {
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    return entry;
  }

  set(key: string, entry: Entry): void {
    this.delete(key);
    this.entries.set(key, entry);
    this.bytes += entry.body.length;
    for (const [oldKey] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.delete(oldKey);
    }
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bytes -= entry.body.length;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  /** Drops every entry whose key starts with `prefix`. */
  deletePrefixed(prefix: string): void {
    for (const key of [...this.entries.keys()]) if (key.startsWith(prefix)) this.delete(key);
  }

  /** Body bytes held. */
  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }
}
