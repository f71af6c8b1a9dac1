import { describe, expect, it } from 'vitest';
import { runChecks } from './readiness.js';

describe('runChecks', () => {
  it('is ready when every check passes, and reports each with its latency', async () => {
    const result = await runChecks({ redis: async () => 'PONG', postgres: async () => 1 });
    expect(result.ready).toBe(true);
    expect(result.checks.redis).toMatchObject({ status: 'ok' });
    expect(typeof result.checks.postgres!.latencyMs).toBe('number');
  });

  it('is unready when one fails or hangs, and never shows a connection string', async () => {
    const result = await runChecks(
      {
        redis: async () => {
          throw new Error('connect ECONNREFUSED redis://:hunter2@10.0.0.1:6379\nstack...');
        },
        storage: () => new Promise(() => {}),
        postgres: async () => 1,
      },
      100,
    );
    expect(result.ready).toBe(false);
    expect(result.checks.redis).toEqual({ status: 'error', error: 'connect ECONNREFUSED [url]' });
    expect(result.checks.storage).toEqual({ status: 'error', error: 'timed out' });
    expect(result.checks.postgres!.status).toBe('ok');
  });
});
