/**
 * Concurrent calls for one key share one running promise: the first call starts the work, every
 * call made while it runs gets the same promise, and the key is free again once it settles (a
 * result is never kept, so a later call starts afresh). Process memory only; across processes and
 * replicas, work is shared through jobs with deterministic ids.
 */
export class SingleFlight<T> {
  private readonly running = new Map<string, { promise: Promise<T>; join(): void }>();

  /**
   * The running promise for `key`, or `start`'s. `callers` tells the work, whenever it asks, how many
   * calls share it so far (at least one).
   */
  run(key: string, start: (callers: () => number) => Promise<T>): Promise<T> {
    const shared = this.running.get(key);
    if (shared) {
      shared.join();
      return shared.promise;
    }
    let callers = 1;
    const promise = start(() => callers).finally(() => this.running.delete(key));
    this.running.set(key, { promise, join: () => void callers++ });
    return promise;
  }
}
