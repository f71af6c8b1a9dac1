import { describe, expect, it } from 'vitest';
import { createLogger } from '../../libs/log/index.js';
import { announceInvalidation, forgetInvalidated } from './memo-invalidation.js';
import { ReadMemo } from './read-memo.js';

const body = Buffer.from('x');
const sha = 'f'.repeat(64);

function filled(): ReadMemo {
  const memo = new ReadMemo({ maxBytes: 2 ** 20, pageTtlMs: 60_000 });
  for (const project of ['six', 'sixty']) {
    memo.putPage(ReadMemo.pageKey(project, 'html'), { kind: 'page', body, etag: 'e', upstream: 'pypi' });
    memo.putPage(ReadMemo.pageKey(project, 'json.gz'), { kind: 'page', body, etag: 'e', upstream: 'pypi' });
    memo.putFile(ReadMemo.fileKey(project, sha, `${project}-1.0-py3-none-any.whl`), { kind: 'file', body, sha256: sha, contentType: 'application/octet-stream' });
  }
  return memo;
}

describe('forgetInvalidated', () => {
  it('forgets every representation and file of one project, and nothing of another (even one sharing its prefix)', () => {
    const memo = filled();
    forgetInvalidated(memo)({ protocol: 'pypi', project: 'six' });
    expect(memo.page(ReadMemo.pageKey('six', 'html'))).toBeUndefined();
    expect(memo.page(ReadMemo.pageKey('six', 'json.gz'))).toBeUndefined();
    expect(memo.file(ReadMemo.fileKey('six', sha, 'six-1.0-py3-none-any.whl'))).toBeUndefined();
    expect(memo.page(ReadMemo.pageKey('sixty', 'html'))).toBeDefined();
    expect(memo.file(ReadMemo.fileKey('sixty', sha, 'sixty-1.0-py3-none-any.whl'))).toBeDefined();
    expect(memo.size).toEqual({ entries: 3, bytes: 3 });
  });

  it('forgets everything when no project is named', () => {
    const memo = filled();
    forgetInvalidated(memo)({ protocol: 'pypi' });
    expect(memo.page(ReadMemo.pageKey('sixty', 'html'))).toBeUndefined();
    expect(memo.size).toEqual({ entries: 0, bytes: 0 });
  });
});

describe('announceInvalidation', () => {
  it('forgets locally at once even when publishing fails', async () => {
    const memo = filled();
    const failing = { publish: async () => Promise.reject(new Error('Connection is closed.')) };
    const announce = announceInvalidation({
      redis: failing as never,
      channel: 'c',
      protocol: 'pypi',
      forget: forgetInvalidated(memo),
      logger: createLogger('gateway', 'silent'),
    });
    await announce('six');
    expect(memo.page(ReadMemo.pageKey('six', 'html'))).toBeUndefined();
    expect(memo.page(ReadMemo.pageKey('sixty', 'html'))).toBeDefined();
  });
});
