import { describe, expect, it } from 'vitest';
import { BackgroundMigrations, type BackgroundMigrationsLogger } from './background-migrations.js';
import { MigrationError, type RunMigrationsOptions } from './migrate.js';

function recordingLogger() {
  const lines: Array<{ level: string; fields: object; message: string }> = [];
  const at = (level: string) => (fields: object, message: string) => void lines.push({ level, fields, message });
  const logger: BackgroundMigrationsLogger = { info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines };
}

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

describe('BackgroundMigrations', () => {
  it('retries with backoff while PostgreSQL is unreachable, logging the reason, until the migrations apply', async () => {
    const { logger, lines } = recordingLogger();
    let calls = 0;
    const migrations = new BackgroundMigrations({
      databaseUrl: 'postgresql://postgres@127.0.0.1:5432/x',
      logger,
      firstRetryDelayMs: 10,
      migrate: async () => {
        calls += 1;
        if (calls < 3) throw refused();
        return ['20260101000000_init'];
      },
    });
    expect(migrations.state()).toMatchObject({ status: 'pending', attempts: 0 });
    migrations.start();
    // The first attempt ends (refused) without waiting for the retries.
    await migrations.firstAttempt;
    expect(migrations.state()).toMatchObject({ status: 'pending', attempts: 1 });
    expect(await migrations.applied).toBe(true);
    expect(migrations.state()).toEqual({ status: 'applied', applied: ['20260101000000_init'] });
    const warnings = lines.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(2);
    expect(warnings[0]!.fields).toMatchObject({ reason: 'connect ECONNREFUSED 127.0.0.1:5432', attempts: 1, retryInMs: 10 });
    expect(warnings[1]!.fields).toMatchObject({ attempts: 2, retryInMs: 20 });
    await migrations.stop();
    expect(migrations.state().status).toBe('applied');
  });

  it('reports the reason while pending, and stop() ends the loop and the attempt in flight', async () => {
    const { logger } = recordingLogger();
    let signal: AbortSignal | undefined;
    let calls = 0;
    const migrations = new BackgroundMigrations({
      databaseUrl: 'postgresql://postgres@127.0.0.1:5432/x',
      logger,
      firstRetryDelayMs: 5,
      migrate: (options: RunMigrationsOptions) => {
        calls += 1;
        if (calls === 1) return Promise.reject(refused());
        signal = options.signal;
        // Hangs until aborted, like a connection to a blackholed server.
        return new Promise((_, reject) => options.signal!.addEventListener('abort', () => reject(new Error('aborted'))));
      },
    });
    migrations.start();
    await expect.poll(() => calls).toBe(2);
    expect(migrations.state()).toMatchObject({ status: 'pending', reason: 'connect ECONNREFUSED 127.0.0.1:5432', attempts: 1 });
    await migrations.stop();
    expect(signal!.aborted).toBe(true);
    expect(await migrations.applied).toBe(false);
    expect(migrations.state()).toEqual({ status: 'stopped' });
    await new Promise((r) => setTimeout(r, 30));
    expect(calls).toBe(2);
  });

  it('marks an edited or failed migration as failed (needs a human) but keeps retrying at the longest delay', async () => {
    const { logger, lines } = recordingLogger();
    let calls = 0;
    const migrations = new BackgroundMigrations({
      databaseUrl: 'postgresql://postgres@127.0.0.1:5432/x',
      logger,
      maxRetryDelayMs: 20,
      migrate: async () => {
        calls += 1;
        if (calls === 1) throw new MigrationError('migration 2026_x was modified after it was applied', '2026_x');
        return [];
      },
    });
    migrations.start();
    await expect.poll(() => migrations.state().status).toBe('failed');
    expect(migrations.state()).toMatchObject({ reason: 'migration 2026_x was modified after it was applied' });
    expect(lines.find((l) => l.level === 'error')?.fields).toMatchObject({ retryInMs: 20 });
    expect(await migrations.applied).toBe(true);
    await migrations.stop();
  });

  it('treats a migration cut off by the server going away as an outage, not a failure', async () => {
    const { logger } = recordingLogger();
    const migrations = new BackgroundMigrations({
      databaseUrl: 'postgresql://postgres@127.0.0.1:5432/x',
      logger,
      firstRetryDelayMs: 1_000,
      migrate: async () => {
        throw new MigrationError('migration 2026_x failed: Connection terminated unexpectedly', '2026_x', { cause: new Error('Connection terminated unexpectedly') });
      },
    });
    migrations.start();
    await expect.poll(() => migrations.state()).toMatchObject({ status: 'pending', attempts: 1 });
    await migrations.stop();
  });

  it('against a real unreachable server: pending with the driver reason, never an empty one', async () => {
    const { logger } = recordingLogger();
    const migrations = new BackgroundMigrations({ databaseUrl: 'postgresql://postgres@localhost:1/none', logger, firstRetryDelayMs: 60_000 });
    migrations.start();
    await expect.poll(() => migrations.state()).toMatchObject({ status: 'pending', attempts: 1 });
    const state = migrations.state();
    expect(state.status === 'pending' && state.reason).toMatch(/ECONNREFUSED/);
    await migrations.stop();
  });
});
