import type { OutgoingHttpHeaders } from 'node:http';
import { BoundedMemo, memoizeResponse, type MemoizedResponse } from './response-memo.js';

/** One remembered page answer and when it stops being served. */
export interface MemoEntry extends MemoizedResponse {
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

/**
 * A tiny in-process memo of pages just served as fresh cache hits, keyed by project and
 * representation (content type + encoding), so repeats within `ttlMs` skip Redis, JSON parsing and
 * express (the gateway's fast path serves them). Bounded in entries and bytes; entries are only
 * added while the page has more than `ttlMs` of freshness left, so the memo never serves a page
 * past its TTL, at most `ttlMs` late after a refill or invalidation.
 */
export class PageMemo {
  private readonly entries: BoundedMemo<MemoEntry>;
  readonly ttlMs: number;

  constructor(options: PageMemoOptions) {
    this.ttlMs = options.ttlMs;
    this.entries = new BoundedMemo(options.maxEntries ?? 2_000, options.maxBytes ?? 32 * 2 ** 20);
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
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Remembers a 200 answer from its headers as sent (`res.getHeaders()`). */
  put(key: string, headers: OutgoingHttpHeaders, etag: string, body: Buffer, now = Date.now()): void {
    if (!this.enabled || body.length > this.entries.maxBytes / 4) return;
    this.entries.set(key, { ...memoizeResponse(headers, etag, body), expiresAt: now + this.ttlMs });
  }

  clear(): void {
    this.entries.clear();
  }

  /** Forgets every representation of one project's page. */
  forgetProject(project: string): void {
    this.entries.deletePrefixed(`${project}\n`);
  }
}
