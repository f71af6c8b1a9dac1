import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CacheKeys } from '../cache/index.js';
import type { ViewRepository } from '../db/index.js';
import { createLogger } from '../log/index.js';
import { pypiProtocol } from '../protocol/pypi/adapter.js';
import { ViewInputError, ViewRegistry, ViewsUnavailableError } from './view-registry.js';

const logger = createLogger('test', 'silent', new Writable({ write: (_c, _e, done) => done() }));

/** A registry whose PostgreSQL and Redis never answer (every call rejects): views of the configuration need neither. */
function registry(configured: Record<string, unknown>): ViewRegistry {
  const unreachable = new Proxy({}, { get: () => () => Promise.reject(new Error('not reached')) });
  return new ViewRegistry({
    protocol: pypiProtocol,
    configured,
    repository: unreachable as ViewRepository,
    redis: unreachable as never,
    keys: new CacheKeys('test'),
    logger,
  });
}

describe('ViewRegistry with views of the configuration', () => {
  it('serves them as read-only views', async () => {
    const views = registry({ ci: { 'exclude-newer': '2026-11-01T00:00:00Z' } });
    const view = await views.get('ci');
    expect(view).toMatchObject({ name: 'ci', source: 'config', revision: 1, rules: { 'exclude-newer': '2026-11-01T00:00:00Z' } });
    await expect(views.put('ci', {})).rejects.toThrow(/defined in ORCHARD_VIEWS/);
    await expect(views.delete('ci')).rejects.toThrow(/defined in ORCHARD_VIEWS/);
  });

  it('refuses a bad name or bad rules at start, naming the view and the rule', () => {
    expect(() => registry({ 'Bad Name': {} })).toThrow(ViewInputError);
    expect(() => registry({ 'Bad Name': {} })).toThrow(/ORCHARD_VIEWS: view name "Bad Name" must match/);
    expect(() => registry({ cool: { 'min-age': 'a week' } })).toThrow(/ORCHARD_VIEWS: view cool: min-age: a duration/);
  });

  it('says the stored views are unavailable, not missing, while PostgreSQL was never reached; config views still serve', async () => {
    const views = registry({ ci: {} });
    views.start();
    try {
      await expect(views.get('made-through-the-api')).rejects.toThrow(ViewsUnavailableError);
      expect(await views.get('ci')).toMatchObject({ name: 'ci', source: 'config' });
    } finally {
      views.close();
    }
  });

  it('refuses a stored view under a name no URL can carry', async () => {
    await expect(registry({}).put('../etc', {})).rejects.toThrow(/view name must match/);
  });
});
