import { describe, expect, it } from 'vitest';
import { createLogger } from '../../libs/log/index.js';
import { FileMemo } from './file-memo.js';
import { announceInvalidation, forgetInvalidated } from './memo-invalidation.js';
import { PageMemo } from './page-memo.js';

const headers = { 'content-type': 'text/html', 'content-length': '1' };
const body = Buffer.from('x');

function memos() {
  const pages = new PageMemo({ ttlMs: 60_000 });
  const files = new FileMemo(2 ** 20);
  for (const project of ['six', 'sixty']) {
    pages.put(PageMemo.key(project, 'text/html', null), headers, '"e"', body);
    pages.put(PageMemo.key(project, 'application/vnd.pypi.simple.v1+json', 'gzip'), headers, '"e"', body);
    files.put(FileMemo.path(project, 'f'.repeat(64), `${project}-1.0-py3-none-any.whl`), headers, '"f"', body);
  }
  return { pages, files };
}

describe('forgetInvalidated', () => {
  it('forgets every representation and file of one project, and nothing of another (even one sharing its prefix)', () => {
    const { pages, files } = memos();
    forgetInvalidated(pages, files)({ protocol: 'pypi', project: 'six' });
    expect(pages.get(PageMemo.key('six', 'text/html', null))).toBeUndefined();
    expect(pages.get(PageMemo.key('six', 'application/vnd.pypi.simple.v1+json', 'gzip'))).toBeUndefined();
    expect(files.get(FileMemo.path('six', 'f'.repeat(64), 'six-1.0-py3-none-any.whl'))).toBeUndefined();
    expect(pages.get(PageMemo.key('sixty', 'text/html', null))).toBeDefined();
    expect(files.get(FileMemo.path('sixty', 'f'.repeat(64), 'sixty-1.0-py3-none-any.whl'))).toBeDefined();
    expect(files.size).toEqual({ entries: 1, bytes: 1 });
  });

  it('forgets everything when no project is named', () => {
    const { pages, files } = memos();
    forgetInvalidated(pages, files)({ protocol: 'pypi' });
    expect(pages.get(PageMemo.key('sixty', 'text/html', null))).toBeUndefined();
    expect(files.size).toEqual({ entries: 0, bytes: 0 });
  });
});

describe('announceInvalidation', () => {
  it('forgets locally at once even when publishing fails', async () => {
    const { pages, files } = memos();
    const failing = { publish: async () => Promise.reject(new Error('Connection is closed.')) };
    const announce = announceInvalidation({
      redis: failing as never,
      channel: 'c',
      protocol: 'pypi',
      forget: forgetInvalidated(pages, files),
      logger: createLogger('gateway', 'silent'),
    });
    await announce('six');
    expect(pages.get(PageMemo.key('six', 'text/html', null))).toBeUndefined();
    expect(pages.get(PageMemo.key('sixty', 'text/html', null))).toBeDefined();
  });
});
