import { describe, expect, it } from 'vitest';
import { FileMemo } from './file-memo.js';
import { PageMemo } from './page-memo.js';

const headers = (length: number) => ({ 'content-type': 'application/octet-stream', 'content-length': String(length), 'x-request-id': 'r1' });
const body = (bytes: number, fill = 1) => Buffer.alloc(bytes, fill);

describe('FileMemo', () => {
  const pathOf = (name: string) => FileMemo.path('a', 'f'.repeat(64), name);

  it('keeps the answer as sent, without the request id, and a 304 variant without the length', () => {
    const memo = new FileMemo(2 ** 20);
    memo.put(pathOf('a-1.0-py3-none-any.whl'), headers(10), '"a"', body(10));
    const entry = memo.get(pathOf('a-1.0-py3-none-any.whl'))!;
    expect(entry.headers).toEqual([['content-type', 'application/octet-stream'], ['content-length', '10']]);
    expect(entry.notModifiedHeaders).toEqual([['content-type', 'application/octet-stream']]);
    expect(entry.etag).toBe('"a"');
  });

  it('answers only the URL path it was served for: not another file name, not another project', () => {
    const memo = new FileMemo(2 ** 20);
    memo.put(pathOf('a-1.0-py3-none-any.whl.metadata'), headers(10), '"a"', body(10));
    expect(memo.get(pathOf('a-2.0-py3-none-any.whl.metadata'))).toBeUndefined();
    expect(memo.get(FileMemo.path('b', 'f'.repeat(64), 'a-1.0-py3-none-any.whl.metadata'))).toBeUndefined();
    expect(memo.get(pathOf('a-1.0-py3-none-any.whl.metadata'))).toBeDefined();
  });

  it('refuses bodies over an eighth of its bytes (at most 1 MiB) and keeps nothing when off', () => {
    const memo = new FileMemo(8 * 1024);
    expect(memo.accepts(1024)).toBe(true);
    expect(memo.accepts(1025)).toBe(false);
    memo.put(pathOf('big.whl'), headers(2048), '"big"', body(2048));
    expect(memo.get(pathOf('big.whl'))).toBeUndefined();
    expect(new FileMemo(64 * 2 ** 20).accepts(2 ** 20 + 1)).toBe(false);
    const off = new FileMemo(0);
    expect(off.enabled).toBe(false);
    off.put(pathOf('a.whl'), headers(1), '"a"', body(1));
    expect(off.get(pathOf('a.whl'))).toBeUndefined();
  });

  it('stays within its bytes, dropping the least recently used first', () => {
    const memo = new FileMemo(8 * 1024);
    for (const key of ['a', 'b', 'c', 'd']) memo.put(pathOf(`${key}.whl`), headers(1024), `"${key}"`, body(1024));
    expect(memo.get(pathOf('a.whl'))).toBeDefined(); // a is now the most recently used
    for (const key of ['e', 'f', 'g', 'h', 'i']) memo.put(pathOf(`${key}.whl`), headers(1024), `"${key}"`, body(1024));
    expect(memo.size.bytes).toBeLessThanOrEqual(8 * 1024);
    expect(memo.get(pathOf('a.whl'))).toBeDefined();
    expect(memo.get(pathOf('b.whl'))).toBeUndefined();
    expect(memo.get(pathOf('i.whl'))).toBeDefined();
  });
});

describe('PageMemo', () => {
  it('serves an entry for its lifetime only', () => {
    const memo = new PageMemo({ ttlMs: 1000 });
    memo.put('p', headers(3), '"p"', body(3), 0);
    expect(memo.get('p', 999)).toBeDefined();
    expect(memo.get('p', 1000)).toBeUndefined();
  });

  it('stays within its bytes, oldest first, and clears', () => {
    const memo = new PageMemo({ ttlMs: 1000, maxBytes: 4096 });
    for (const key of ['a', 'b', 'c', 'd', 'e']) memo.put(key, headers(1024), `"${key}"`, body(1024), 0);
    expect(memo.get('a', 1)).toBeUndefined();
    expect(memo.get('e', 1)).toBeDefined();
    memo.clear();
    expect(memo.get('e', 1)).toBeUndefined();
  });
});
