import { describe, expect, it } from 'vitest';
import { ReadMemo, type MemoFile, type MemoPage } from './read-memo.js';

const sha = 'f'.repeat(64);
const file = (bytes: number): MemoFile => ({ kind: 'file', body: Buffer.alloc(bytes, 1), sha256: sha, contentType: 'application/octet-stream' });
const page = (bytes: number): MemoPage => ({ kind: 'page', body: Buffer.alloc(bytes, 1), etag: 'e', upstream: 'pypi' });

describe('ReadMemo', () => {
  it('answers a file only for the URL path it was kept under: not another name, not another project', () => {
    const memo = new ReadMemo({ maxBytes: 2 ** 20, pageTtlMs: 1000 });
    memo.putFile(ReadMemo.fileKey('a', sha, 'a-1.0-py3-none-any.whl.metadata'), file(10));
    expect(memo.file(ReadMemo.fileKey('a', sha, 'a-2.0-py3-none-any.whl.metadata'))).toBeUndefined();
    expect(memo.file(ReadMemo.fileKey('b', sha, 'a-1.0-py3-none-any.whl.metadata'))).toBeUndefined();
    expect(memo.file(ReadMemo.fileKey('a', sha, 'a-1.0-py3-none-any.whl.metadata'))?.body.length).toBe(10);
    // A page key never answers as a file, nor the other way round.
    expect(memo.page(ReadMemo.fileKey('a', sha, 'a-1.0-py3-none-any.whl.metadata'))).toBeUndefined();
  });

  it('keeps files up to an eighth of its bytes (at most 1 MiB), and nothing when off', () => {
    const memo = new ReadMemo({ maxBytes: 8 * 1024, pageTtlMs: 1000 });
    expect(memo.acceptsFile(1024)).toBe(true);
    expect(memo.acceptsFile(1025)).toBe(false);
    memo.putFile(ReadMemo.fileKey('a', sha, 'big.whl'), file(2048));
    expect(memo.file(ReadMemo.fileKey('a', sha, 'big.whl'))).toBeUndefined();
    expect(new ReadMemo({ maxBytes: 64 * 2 ** 20, pageTtlMs: 0 }).acceptsFile(2 ** 20 + 1)).toBe(false);
    const off = new ReadMemo({ maxBytes: 0, pageTtlMs: 1000 });
    off.putFile(ReadMemo.fileKey('a', sha, 'a.whl'), file(1));
    off.putPage(ReadMemo.pageKey('a', 'html'), page(1));
    expect(off.size).toEqual({ entries: 0, bytes: 0 });
  });

  it('drops the least recently used entries when over its bytes', () => {
    const memo = new ReadMemo({ maxBytes: 8 * 1024, pageTtlMs: 60_000 });
    for (let i = 0; i < 8; i++) memo.putFile(ReadMemo.fileKey('a', sha, `f${i}.whl`), file(1024));
    expect(memo.file(ReadMemo.fileKey('a', sha, 'f0.whl'))).toBeDefined();
    memo.putPage(ReadMemo.pageKey('a', 'html'), page(1024));
    expect(memo.size.bytes).toBeLessThanOrEqual(8 * 1024);
    // f0 was used last among the files: f1 went first.
    expect(memo.file(ReadMemo.fileKey('a', sha, 'f1.whl'))).toBeUndefined();
    expect(memo.file(ReadMemo.fileKey('a', sha, 'f0.whl'))).toBeDefined();
    expect(memo.page(ReadMemo.pageKey('a', 'html'))).toBeDefined();
  });

  it('answers a page for its lifetime only, and keeps no pages when that is 0', async () => {
    const memo = new ReadMemo({ maxBytes: 2 ** 20, pageTtlMs: 200 });
    memo.putPage(ReadMemo.pageKey('a', 'html'), page(10));
    expect(memo.page(ReadMemo.pageKey('a', 'html'))).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(memo.page(ReadMemo.pageKey('a', 'html'))).toBeUndefined();
    const noPages = new ReadMemo({ maxBytes: 2 ** 20, pageTtlMs: 0 });
    noPages.putPage(ReadMemo.pageKey('a', 'html'), page(10));
    expect(noPages.page(ReadMemo.pageKey('a', 'html'))).toBeUndefined();
    expect(noPages.filesEnabled).toBe(true);
  });
});
