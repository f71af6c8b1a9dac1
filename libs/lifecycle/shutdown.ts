import type { Logger } from '../log/index.js';

export interface ShutdownStep {
  name: string;
  run: () => Promise<unknown>;
}

/**
 * Ordered, idempotent shutdown: every step runs even if an earlier one fails, the whole sequence
 * is bounded by a timeout, and a second signal does not start it twice.
 */
export class Shutdown {
  private running: Promise<void> | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly timeoutMs: number,
    private readonly steps: ShutdownStep[] = [],
  ) {}

  add(step: ShutdownStep): void {
    this.steps.push(step);
  }

  run(reason: string): Promise<void> {
    this.running ??= this.runSteps(reason);
    return this.running;
  }

  /** Runs the steps on SIGTERM/SIGINT, then exits. */
  installSignalHandlers(): void {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        void this.run(signal).finally(() => process.exit(0));
      });
    }
  }

  private async runSteps(reason: string): Promise<void> {
    this.logger.info({ reason }, 'shutting down');
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), this.timeoutMs).unref());
    const all = (async () => {
      for (const step of this.steps) {
        try {
          await step.run();
        } catch (err) {
          this.logger.warn({ step: step.name, err: (err as Error).message }, 'shutdown step failed');
        }
      }
    })();
    if ((await Promise.race([all, timeout])) === 'timeout') {
      this.logger.warn({ timeoutMs: this.timeoutMs }, 'shutdown timed out');
    } else {
      this.logger.info('shut down cleanly');
    }
  }
}
