import { describe, expect, it } from 'vitest';
import type { ProjectFile, ProjectPage } from '../protocol/index.js';
import { pypiProtocol } from '../protocol/pypi/adapter.js';
import { compileRules } from '../config/index.js';
import { filterPage } from './view-filter.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-01T00:00:00Z');

function file(filename: string, extra: Partial<ProjectFile> = {}): ProjectFile {
  return { filename, url: `https://files.example/${filename}`, hashes: { sha256: 'a'.repeat(64) }, ...extra };
}

function at(daysAgo: number): string {
  return new Date(NOW - daysAgo * DAY).toISOString();
}

const page: ProjectPage = {
  name: 'demo',
  meta: { 'api-version': '1.1' },
  versions: ['1.0', '1.1', '2.0rc1', '2.0'],
  files: [
    file('demo-1.0-py3-none-any.whl', { uploadTime: at(100) }),
    file('demo-1.0.tar.gz', { uploadTime: at(100) }),
    file('demo-1.1-py3-none-any.whl', { uploadTime: at(20), yanked: 'broken' }),
    file('demo-2.0rc1-py3-none-any.whl', { uploadTime: at(10) }),
    file('demo-2.0-py3-none-any.whl', { uploadTime: at(2) }),
    file('demo-2.0.tar.gz'),
  ],
};

function shown(rules: unknown): { files: string[]; versions?: string[]; hidden: Record<string, number>; hiddenVersions: Record<string, number> } {
  const result = filterPage(compileRules(rules, pypiProtocol).compiled, pypiProtocol, 'demo', page, NOW);
  return {
    files: result.page.files.map((f) => f.filename),
    versions: result.page.versions,
    hidden: Object.fromEntries(result.hidden),
    hiddenVersions: Object.fromEntries(result.hiddenVersions),
  };
}

describe('filterPage', () => {
  it('shows everything without rules (the same page)', () => {
    const result = filterPage(compileRules({}, pypiProtocol).compiled, pypiProtocol, 'demo', page, NOW);
    expect(result.page).toBe(page);
    expect(result.hidden.size).toBe(0);
  });

  it('a snapshot hides files uploaded after it, and files of unknown upload time unless told to include them', () => {
    expect(shown({ 'exclude-newer': at(15) })).toEqual({
      files: ['demo-1.0-py3-none-any.whl', 'demo-1.0.tar.gz', 'demo-1.1-py3-none-any.whl'],
      versions: ['1.0', '1.1'],
      hidden: { 'exclude-newer': 2, 'unknown-upload-time': 1 },
      // 2.0 lost its wheel to the snapshot first, then its sdist (unknown time): counted once.
      hiddenVersions: { 'exclude-newer': 2 },
    });
    expect(shown({ 'exclude-newer': at(15), 'unknown-upload-time': 'include' }).files).toContain('demo-2.0.tar.gz');
  });

  it('a cooldown says when its page changes next: when the youngest hidden file comes of age', () => {
    const result = filterPage(compileRules({ 'min-age': '7d' }, pypiProtocol).compiled, pypiProtocol, 'demo', page, NOW);
    expect(result.changesAt).toBe(Date.parse(at(2)) + 7 * DAY);
    expect(filterPage(compileRules({ 'exclude-newer': at(1) }, pypiProtocol).compiled, pypiProtocol, 'demo', page, NOW).changesAt).toBeUndefined();
  });

  it('a cooldown hides files younger than it', () => {
    expect(shown({ 'min-age': '7d', 'unknown-upload-time': 'include' })).toMatchObject({
      files: ['demo-1.0-py3-none-any.whl', 'demo-1.0.tar.gz', 'demo-1.1-py3-none-any.whl', 'demo-2.0rc1-py3-none-any.whl', 'demo-2.0.tar.gz'],
      hidden: { 'min-age': 1 },
      // 2.0 keeps its sdist (upload time unknown, included).
      hiddenVersions: {},
    });
  });

  it('version specifiers pin or block, and yanked files and pre-releases can be left out', () => {
    expect(shown({ versions: { Demo: '==1.0' } }).files).toEqual(['demo-1.0-py3-none-any.whl', 'demo-1.0.tar.gz']);
    expect(shown({ versions: { demo: '!=2.0' } }).files).toEqual(['demo-1.0-py3-none-any.whl', 'demo-1.0.tar.gz', 'demo-1.1-py3-none-any.whl', 'demo-2.0rc1-py3-none-any.whl']);
    expect(shown({ 'exclude-yanked': true, 'exclude-prereleases': true })).toMatchObject({
      files: ['demo-1.0-py3-none-any.whl', 'demo-1.0.tar.gz', 'demo-2.0-py3-none-any.whl', 'demo-2.0.tar.gz'],
      versions: ['1.0', '2.0'],
      hidden: { 'exclude-yanked': 1, 'exclude-prereleases': 1 },
      hiddenVersions: { 'exclude-yanked': 1, 'exclude-prereleases': 1 },
    });
    // Another project's specifier does not apply here.
    expect(shown({ versions: { other: '==9' } }).files).toHaveLength(6);
  });
});
