import { LRUCache } from 'lru-cache';

/** A page answer's headers (flat lists for `writeHead`): of the whole body, and of a 304. */
export interface PageHeaders {
  etag: string;
  whole: string[];
  notModified: string[];
}

/** A fresh page answer, as the page cache gave it: the same writer sends it from memory or from Redis. */
export interface MemoPage {
  kind: 'page';
  body: Buffer;
  /** The page's base ETag (its variant's is derived from it). */
  etag: string;
  upstream: string;
  /** The headers of its answer from the memo, made on its first one (a key is one representation). */
  head?: PageHeaders;
}

/** A verified file (or PEP 658 metadata file) read whole from storage. */
export interface MemoFile {
  kind: 'file';
  body: Buffer;
  /** The sha256 of `body`: the ETag. */
  sha256: string;
  contentType: string;
  /** The headers of its whole-body 200 answer (a flat list), made on its first answer from the memo. */
  head?: string[];
}

export type MemoEntry = MemoPage | MemoFile;

export interface ReadMemoOptions {
  /** ORCHARD_MEMO_BYTES: body bytes kept in all (0: off). */
  maxBytes: number;
  /** ORCHARD_PAGE_MEMO_MS: how long a page is answered from memory (0: pages are not kept). */
  pageTtlMs: number;
}

/** Largest file kept (most wheels pip resolves, and every metadata file, are far smaller). */
const MAX_FILE_BYTES = 2 ** 20;

/**
 * The gateway's one in-process memo, in front of Redis and storage (lru-cache, bounded in bytes,
 * least recently used dropped first):
 *
 * - pages: fresh page answers by project and representation, for `pageTtlMs` (entries are only added
 *   while the page has more than that of freshness left, so none is served past its TTL);
 * - files: small verified files and metadata files by the URL path a listing confirmed
 *   (`/files/<project>/<sha256>/<name>`). Their bytes never change under that path: no expiry.
 *
 * An entry holds what the answer is made of, never a captured response: the read path writes a
 * memoised answer with the same code as one it just read from Redis or storage.
 */
export class ReadMemo {
  private readonly entries: LRUCache<string, MemoEntry> | undefined;
  readonly pageTtlMs: number;

  constructor(options: ReadMemoOptions) {
    this.pageTtlMs = options.pageTtlMs;
    // lru-cache needs a positive bound; a memo with none keeps nothing.
    this.entries =
      options.maxBytes > 0
        ? new LRUCache<string, MemoEntry>({
            maxSize: options.maxBytes,
            max: Math.max(16, Math.floor(options.maxBytes / 512)),
            sizeCalculation: (entry) => Math.max(1, entry.body.length),
          })
        : undefined;
  }

  get pagesEnabled(): boolean {
    return this.entries !== undefined && this.pageTtlMs > 0;
  }

  get filesEnabled(): boolean {
    return this.entries !== undefined;
  }

  static pageKey(project: string, variant: string): string {
    return `page\n${project}\n${variant}`;
  }

  /** The key of a file (or, with `.metadata`, metadata file) URL: its path as pages link it. */
  static fileKey(project: string, sha256: string, filename: string): string {
    return `file\n/files/${project}/${sha256}/${filename}`;
  }

  page(key: string): MemoPage | undefined {
    const entry = this.entries?.get(key);
    return entry?.kind === 'page' ? entry : undefined;
  }

  file(key: string): MemoFile | undefined {
    const entry = this.entries?.get(key);
    return entry?.kind === 'file' ? entry : undefined;
  }

  /** Whether a file of this size would be kept. */
  acceptsFile(size: number): boolean {
    return this.entries !== undefined && size <= Math.min(MAX_FILE_BYTES, this.entries.maxSize / 8);
  }

  putPage(key: string, page: MemoPage): void {
    if (!this.entries || !this.pagesEnabled || page.body.length > this.entries.maxSize / 4) return;
    this.entries.set(key, page, { ttl: this.pageTtlMs });
  }

  putFile(key: string, file: MemoFile): void {
    if (!this.entries || !this.acceptsFile(file.body.length)) return;
    this.entries.set(key, file);
  }

  /** Forgets one project's pages and files, or (no project) everything. */
  forget(project?: string): void {
    if (!this.entries) return;
    if (project === undefined) {
      this.entries.clear();
      return;
    }
    const prefixes = [`page\n${project}\n`, `file\n/files/${project}/`];
    for (const key of [...this.entries.keys()]) if (prefixes.some((prefix) => key.startsWith(prefix))) this.entries.delete(key);
  }

  /** Entries and body bytes held. */
  get size(): { entries: number; bytes: number } {
    return { entries: this.entries?.size ?? 0, bytes: this.entries?.calculatedSize ?? 0 };
  }
}
