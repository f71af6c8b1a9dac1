import { readFile } from 'node:fs/promises';

/** Samples a process's resident set size while a phase runs; reports the peak in MiB. */
export class RssSampler {
  private peakKb = 0;
  private timer?: NodeJS.Timeout;
  constructor(private readonly pid: number) {}

  start(intervalMs = 100): this {
    this.peakKb = 0;
    this.timer = setInterval(() => void this.sample(), intervalMs);
    return this;
  }

  async stop(): Promise<number> {
    clearInterval(this.timer);
    await this.sample();
    return Math.round(this.peakKb / 1024);
  }

  private async sample(): Promise<void> {
    try {
      const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      if (kb > this.peakKb) this.peakKb = kb;
    } catch {
      // the process has exited
    }
  }
}
