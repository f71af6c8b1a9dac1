import { describe, expect, it } from 'vitest';
import { createLogger } from '../log/index.js';
import { waitForRoom, type RoomDeps } from './room.js';

const logger = createLogger('fetcher', 'silent');

function deps(stored: () => number, overrides: Partial<RoomDeps> = {}): RoomDeps & { runs: number } {
  const state = {
    runs: 0,
    storedBytes: async () => stored(),
    arrivingBytes: async () => 300,
    requestRun: () => void state.runs++,
    quotaBytes: 1000,
    maxWaitMs: 2_000,
    pollMs: 10,
    logger,
    ...overrides,
  };
  return state;
}

describe('waitForRoom', () => {
  it('lets a download go at once when the stored files and the other downloads leave it room', async () => {
    // 800 stored + 300 arriving, 200 of them this download's: 900 of others fit under 1000.
    const room = deps(() => 800);
    await waitForRoom(room, 200, { sha256: 'a' });
    // Never held: no run was asked for.
    expect(room.runs).toBe(0);
  });

  it('holds it, asking for runs, until a run made room', async () => {
    let stored = 1200;
    const room = deps(() => stored);
    setTimeout(() => (stored = 700), 100);
    await waitForRoom(room, 200, { sha256: 'a' });
    expect(room.runs).toBeGreaterThan(0);
    // It returned because room was made, not because the wait ran out.
    expect(stored).toBe(700);
  });

  it('lets it go after the longest wait when nothing can be taken, and when usage cannot be read', async () => {
    const full = deps(() => 5000, { maxWaitMs: 100 });
    const waited = await waitForRoom(full, 200, { sha256: 'a' });
    expect(waited).toBeGreaterThanOrEqual(100);
    const unknown = deps(() => {
      throw new Error('PostgreSQL is down');
    });
    await waitForRoom(unknown, 200, { sha256: 'a' });
    expect(unknown.runs).toBe(0);
  });
});
