import type { OutgoingHttpHeaders } from 'node:http';

/** One remembered page answer: exactly the headers and body a fresh cache hit was sent with. */
export interface MemoEntry {
  /** Response headers of the 200 (x-request-id excluded), as `[name, value]` pairs. */
  headers: Array<[string, string]>;
  /** The same headers for a 304: without Content-Length and Content-Encoding. */
  notModifiedHeaders: Array<[string, string]>;
  etag: string;
  body: Buffer;
  expiresAt: number;
}

export interface PageMemoOptions {
  /** How long an entry is served (ms); 0 turns the memo off. */
  ttlMs: number;
  /** Most entries kept (oldest dropped first). */
  maxEntries?: number;
  /** Most body bytes kept (oldest dropped first). */
  maxBytes?: number;
}

const SKIPPED = new Set(['x-request-id']);
const NOT_IN_304 = new Set(['content-length', 'content-encoding']);

/**
 * A tiny in-process memo of pages just served as fresh cache hits, keyed by project and
 * representation (content type + encoding), so repeats within `ttlMs` skip Redis, JSON parsing and
 * express (the gateway's fast path serves them). Bounded in entries and bytes; entries are only
 * added while the page has more than `ttlMs` of freshness left, so the memo never serves a page
 * past its TTL, at most `ttlMs` late after a refill or invalidation.
 */
export class PageMemo {
  private readonly entries = new Map<string, MemoEntry>();
  private bytes = 0;
  readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly maxBytes: number;

  constructor(options: PageMemoOptions) {
    this.ttlMs = options.ttlMs;
    this.maxEntries = options.maxEntries ?? 2_000;
    this.maxBytes = options.maxBytes ?? 32 * 2 ** 20;
  }

  get enabled(): boolean {
    return this.ttlMs > 0;
  }

  static key(project: string, contentType: string, encoding: string | null): string {
    return `${project}\n${contentType}\n${encoding ?? ''}`;
  }

  get(key: string, now = Date.now()): MemoEntry | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.drop(key, entry);
      return undefined;
    }
    return entry;
  }

  /** Remembers a 200 answer from its headers as sent (`res.getHeaders()`). */
  put(key: string, headers: OutgoingHttpHeaders, etag: string, body: Buffer, now = Date.now()): void {
    if (!this.enabled || body.length > this.maxBytes / 4) return;
    const pairs: Array<[string, string]> = [];
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined || SKIPPED.has(name)) continue;
      pairs.push([name, Array.isArray(value) ? value.join(', ') : String(value)]);
    }
    const previous = this.entries.get(key);
    if (previous) this.drop(key, previous);
    const entry: MemoEntry = {
      headers: pairs,
      notModifiedHeaders: pairs.filter(([name]) => !NOT_IN_304.has(name)),
      etag,
      body,
      expiresAt: now + this.ttlMs,
    };
    this.entries.set(key, entry);
    this.bytes += body.length;
    for (const [oldKey, old] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.drop(oldKey, old);
    }
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  private drop(key: string, entry: MemoEntry): void {
    this.entries.delete(key);
    this.bytes -= entry.body.length;
  }
}
