import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../libs/log/index.js';
import { UnrecoverableError } from '../../libs/queue/index.js';
import { createExtractHandler, type ExtractDeps } from './extract-artifact.js';

function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write: (c: Buffer, _e, done) => (lines.push(JSON.parse(c.toString()) as Record<string, unknown>), done()) });
  return { logger: createLogger('extractor', 'debug', stream), lines };
}

const job = { protocol: 'pypi', sha256: 'a'.repeat(64), project: 'demo', filename: 'demo-1.0.tar.gz' };

describe('createExtractHandler, bookkeeping failures', () => {
  it('fails a job whose file is gone for good, and logs when even the failure cannot be recorded', async () => {
    const { logger, lines } = capturingLogger();
    const deps = {
      protocols: { get: () => ({ versionFromFilename: () => '1.0' }) },
      store: { stat: async () => null },
      releases: () => ({
        recordFailure: async () => {
          throw new Error('database unreachable');
        },
      }),
      artifactCache: {},
      logger,
    } as unknown as ExtractDeps;
    const failure = await createExtractHandler(deps)(job).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(UnrecoverableError);
    expect((failure as Error).message).toMatch(/file not in storage/);
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 40, sha256: job.sha256, err: 'database unreachable', msg: 'could not record that the file is missing from storage' }),
    );
  });
});
