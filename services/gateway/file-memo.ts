import type { OutgoingHttpHeaders } from 'node:http';
import { BoundedMemo, memoizeResponse, type MemoizedResponse } from './response-memo.js';


/** Largest single file kept (most wheels pip resolves, and every metadata file, are far smaller). */
const MAX_ENTRY_BYTES = 1024 * 1024;

/**
 * Small cached files and PEP 658 metadata files the gateway served from storage, kept in process
 * memory as ready answers (headers and body) for the fast path. Keys are the URL paths express
 * answered (`/files/<project>/<sha256>/<name>`) after the listing confirmed that project lists the
 * file under that name and the bytes were verified against the digest it advertises (the file's
 * sha256, or its metadata file's): one project's answer never serves another's URL. The bytes
 * behind a path never change, so entries need no expiry; the memo is bounded in bytes
 * (`ORCHARD_FILE_MEMO_BYTES`) and drops the least recently used first.
 */
export class FileMemo {
  private readonly entries: BoundedMemo<MemoizedResponse>;

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

  /** The key of a file (or, with `.metadata`, metadata file) URL: its path as pages link it. */
  static path(project: string, sha256: string, filename: string): string {
    return `/files/${project}/${sha256}/${filename}`;
  }

  /** The answer remembered for this URL path. */
  get(path: string): MemoizedResponse | undefined {
    return this.entries.get(path, true);
  }

  /** Remembers a 200 answer from its headers as sent (`res.getHeaders()`). */
  put(path: string, headers: OutgoingHttpHeaders, etag: string, body: Buffer): void {
    if (!this.accepts(body.length)) return;
    this.entries.set(path, memoizeResponse(headers, etag, body));
  }

  /** Forgets the files (and metadata files) of one project's URLs. */
  forgetProject(project: string): void {
    this.entries.deletePrefixed(`/files/${project}/`);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): { entries: number; bytes: number } {
    return this.entries.size;
  }
}
