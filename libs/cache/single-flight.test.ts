import { describe, expect, it } from 'vitest';
import { SingleFlight } from './single-flight.js';

/** A promise and the functions that settle it. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('SingleFlight', () => {
  it('gives concurrent calls for one key the first call’s promise, and starts the work once', async () => {
    const flights = new SingleFlight<string>();
    const work = deferred<string>();
    let starts = 0;
    const start = () => {
      starts++;
      return work.promise;
    };
    const calls = [flights.run('a', start), flights.run('a', start), flights.run('a', start)];
    expect(starts).toBe(1);
    work.resolve('done');
    expect(await Promise.all(calls)).toEqual(['done', 'done', 'done']);
  });

  it('runs different keys separately', async () => {
    const flights = new SingleFlight<string>();
    const results = await Promise.all([flights.run('a', async () => 'from a'), flights.run('b', async () => 'from b')]);
    expect(results).toEqual(['from a', 'from b']);
  });

  it('keeps nothing once the work settles: a later call starts afresh, after a result or a failure', async () => {
    const flights = new SingleFlight<number>();
    let starts = 0;
    const start = async () => ++starts;
    expect(await flights.run('a', start)).toBe(1);
    expect(await flights.run('a', start)).toBe(2);

    const failing = flights.run('b', async () => {
      throw new Error('upstream down');
    });
    const joined = flights.run('b', async () => 99);
    await expect(failing).rejects.toThrow('upstream down');
    await expect(joined).rejects.toThrow('upstream down');
    expect(await flights.run('b', async () => 7)).toBe(7);
  });

  it('tells the work how many calls share it so far', async () => {
    const flights = new SingleFlight<number>();
    const work = deferred<void>();
    let callers: () => number = () => 0;
    const first = flights.run('a', async (count) => {
      callers = count;
      await work.promise;
      return count();
    });
    expect(callers()).toBe(1);
    const second = flights.run('a', async () => -1);
    void flights.run('a', async () => -1);
    expect(callers()).toBe(3);
    work.resolve();
    expect(await first).toBe(3);
    expect(await second).toBe(3);
    expect(await flights.run('a', async (count) => count())).toBe(1);
  });
});
