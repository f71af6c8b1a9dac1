import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../log/index.js';
import { Shutdown } from './shutdown.js';

function quietLogger() {
  const lines: string[] = [];
  const stream = new Writable({ write: (c: Buffer, _e, done) => (lines.push(c.toString()), done()) });
  return { logger: createLogger('test', 'info', stream), lines };
}

describe('Shutdown', () => {
  it('runs every step in order, even after one fails', async () => {
    const { logger, lines } = quietLogger();
    const ran: string[] = [];
    const shutdown = new Shutdown(logger, 5_000);
    shutdown.add({ name: 'a', run: async () => void ran.push('a') });
    shutdown.add({
      name: 'b',
      run: async () => {
        ran.push('b');
        throw new Error('boom');
      },
    });
    shutdown.add({ name: 'c', run: async () => void ran.push('c') });
    await shutdown.run('test');
    expect(ran).toEqual(['a', 'b', 'c']);
    expect(lines.join('')).toMatch(/"step":"b","err":"boom".*shutdown step failed/);
  });

  it('runs once however often it is asked', async () => {
    const { logger } = quietLogger();
    let runs = 0;
    const shutdown = new Shutdown(logger, 5_000);
    shutdown.add({ name: 'count', run: async () => void runs++ });
    await Promise.all([shutdown.run('SIGTERM'), shutdown.run('SIGINT'), shutdown.run('SIGTERM')]);
    expect(runs).toBe(1);
  });

  it('gives up waiting after its timeout', async () => {
    const { logger, lines } = quietLogger();
    const shutdown = new Shutdown(logger, 100);
    shutdown.add({ name: 'hangs', run: () => new Promise(() => {}) });
    const started = Date.now();
    await shutdown.run('test');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(lines.join('')).toMatch(/shutdown timed out/);
  });
});
