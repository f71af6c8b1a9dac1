import type { OutgoingHttpHeaders } from 'node:http';
import { BoundedMemo, memoizeResponse, type MemoizedResponse } from './response-memo.js';

/** A remembered file answer, valid only under the file name it was served as. */
export interface FileMemoEntry extends MemoizedResponse {
  filename: string;
}

/** Largest single file kept (most wheels pip resolves, and every metadata file, are far smaller). */
const MAX_ENTRY_BYTES = 1024 * 1024;

/**
 * Small cached files and PEP 658 metadata files the gateway served from storage, kept in process
 * memory as ready answers (headers and body) for the fast path. Keys are content addresses (a
 * file's sha256, `<sha256>.metadata` for its metadata file): the bytes behind a key never change, so
 * entries need no expiry and stay correct across refreshes; the memo is bounded in bytes
 * (`ORCHARD_FILE_MEMO_BYTES`) and drops the least recently used first.
 */
export class FileMemo {
  private readonly entries: BoundedMemo<FileMemoEntry>;

  constructor(maxBytes: number) {
    this.entries = new BoundedMemo(Math.max(1, Math.floor(maxBytes / 1024)), maxBytes);
  }

  get enabled(): boolean {
    return this.entries.maxBytes > 0;
  }

  /** Whether a body of this size would be kept. */
  accepts(size: number): boolean {
    return this.enabled && size <= Math.min(MAX_ENTRY_BYTES, this.entries.maxBytes / 8);
  }

  static fileKey(sha256: string): string {
    return sha256;
  }

  static metadataKey(sha256: string): string {
    return `${sha256}.metadata`;
  }

  /** The answer for `key` when it was served as `filename`. */
  get(key: string, filename: string): FileMemoEntry | undefined {
    const entry = this.entries.get(key, true);
    return entry && entry.filename === filename ? entry : undefined;
  }

  /** Remembers a 200 answer from its headers as sent (`res.getHeaders()`). */
  put(key: string, filename: string, headers: OutgoingHttpHeaders, etag: string, body: Buffer): void {
    if (!this.accepts(body.length)) return;
    this.entries.set(key, { ...memoizeResponse(headers, etag, body), filename });
  }

  get size(): { entries: number; bytes: number } {
    return this.entries.size;
  }
}
