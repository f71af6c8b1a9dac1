import { describe, expect, it } from 'vitest';
import { CheckPending, readinessBody, runChecks } from './readiness.js';

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

  it('gives a non-empty reason for errors whose message is empty or starts with a blank line', async () => {
    const result = await runChecks({
      // What Prisma throws with PostgreSQL down: the message opens with a newline.
      postgres: async () => {
        throw new Error("\nInvalid `prisma.$queryRaw()` invocation:\n\n\nRaw query failed. Code: `N/A`. Message: `Can't reach database server at 127.0.0.1:5432`");
      },
      // What node's net throws for a host name with several addresses: no message, a code.
      redis: async () => {
        throw Object.assign(new AggregateError([], ''), { code: 'ECONNREFUSED' });
      },
    });
    expect(result.checks.postgres).toEqual({ status: 'error', error: "Can't reach database server at 127.0.0.1:5432" });
    expect(result.checks.redis).toEqual({ status: 'error', error: 'ECONNREFUSED' });
  });

  it('reports a check on its way as pending, names what is degraded, and is not ready', async () => {
    const result = await runChecks({
      postgres: async () => 1,
      migrations: async () => {
        throw new CheckPending('migrations pending: connect ECONNREFUSED 127.0.0.1:5432');
      },
    });
    expect(result.ready).toBe(false);
    expect(result.degraded).toEqual(['migrations']);
    expect(result.checks.migrations).toEqual({ status: 'pending', error: 'migrations pending: connect ECONNREFUSED 127.0.0.1:5432' });
    expect(readinessBody(result, { dbPoolSize: 4 })).toEqual({ status: 'unready', degraded: ['migrations'], checks: result.checks, dbPoolSize: 4 });
    const ok = await runChecks({ postgres: async () => 1 });
    expect(readinessBody(ok)).toEqual({ status: 'ready', checks: ok.checks });
  });
});
