import { describe, expect, it } from 'vitest';
import { createLogger } from '../log/index.js';
import { ServeTracker } from './serve-tracker.js';

const logger = createLogger('gateway', 'silent');

/** A stand-in for PostgreSQL that records each batch (the SQL itself is tested in eviction.test.ts). */
function recorder(failures = 0) {
  const batches: Array<{ counts: Map<string, number>; at: Date }> = [];
  let failing = failures;
  return {
    batches,
    storage: {
      async recordServed(counts: ReadonlyMap<string, number>, at: Date) {
        if (failing-- > 0) throw new Error('database down');
        batches.push({ counts: new Map(counts), at });
      },
    },
  };
}

describe('ServeTracker', () => {
  it('writes the serves counted since the last flush in one batch, then nothing new', async () => {
    const { batches, storage } = recorder();
    const tracker = new ServeTracker({ storage, flushMs: 60_000, logger });
    tracker.served('a');
    tracker.served('a');
    tracker.served('b');
    await tracker.flush();
    expect(batches).toHaveLength(1);
    expect([...batches[0]!.counts]).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
    await tracker.flush();
    expect(batches).toHaveLength(1);
  });

  it('renews a file at every flush while one of its streams runs, and stops once all have ended', async () => {
    const { batches, storage } = recorder();
    const tracker = new ServeTracker({ storage, flushMs: 60_000, logger });
    const first = tracker.streamStarted('big');
    const second = tracker.streamStarted('big');
    await tracker.flush();
    await tracker.flush();
    first();
    first();
    await tracker.flush();
    const whileStreaming = batches.length;
    second();
    await new Promise((r) => setImmediate(r));
    const settled = batches.length;
    await tracker.flush();
    expect(whileStreaming).toBeGreaterThanOrEqual(3);
    expect(batches).toHaveLength(settled);
    // A stream is not a serve (not counted), only a renewal.
    for (const batch of batches) expect([...batch.counts]).toEqual([['big', 0]]);
  });

  it('keeps a batch PostgreSQL refused for the next flush, and writes the rest at close', async () => {
    const { batches, storage } = recorder(1);
    const tracker = new ServeTracker({ storage, flushMs: 60_000, logger });
    tracker.served('a');
    await tracker.flush();
    expect(batches).toHaveLength(0);
    tracker.served('a');
    await tracker.close();
    expect([...batches[0]!.counts]).toEqual([['a', 2]]);
  });

  it('renews a file at once when its first stream begins, at most once per flush interval', async () => {
    const { batches, storage } = recorder();
    const tracker = new ServeTracker({ storage, flushMs: 60_000, logger });
    tracker.start();
    const end = tracker.streamStarted('big');
    await expect.poll(() => batches.length, { timeout: 2_000 }).toBe(1);
    expect([...batches[0]!.counts]).toEqual([['big', 0]]);
    end();
    tracker.streamStarted('big')();
    await new Promise((r) => setTimeout(r, 50));
    expect(batches).toHaveLength(1);
    await tracker.close();
  });

  it('flushes by itself on its timer', async () => {
    const { batches, storage } = recorder();
    const tracker = new ServeTracker({ storage, flushMs: 20, logger });
    tracker.start();
    tracker.served('t');
    await expect.poll(() => batches.length, { timeout: 2_000 }).toBe(1);
    await tracker.close();
  });
});
