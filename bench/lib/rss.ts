import { readFile } from 'node:fs/promises';
import { childPids } from '../../test/support/processes.js';

export interface RssPeaks {
  /** Peak of the process and its children together (a gateway's primary and its processes). */
  totalMiB: number;
  /** Peak of the largest single process among them. */
  largestMiB: number;
  /** Processes seen at the peak of the total. */
  processes: number;
}

/** Samples the resident set size of a process and its children while a phase runs; reports the peaks in MiB. */
export class RssSampler {
  private peakTotalKb = 0;
  private peakLargestKb = 0;
  private processesAtPeak = 0;
  private timer?: NodeJS.Timeout;
  constructor(private readonly pid: number) {}

  start(intervalMs = 100): this {
    this.peakTotalKb = 0;
    this.peakLargestKb = 0;
    this.timer = setInterval(() => void this.sample(), intervalMs);
    return this;
  }

  async stop(): Promise<RssPeaks> {
    clearInterval(this.timer);
    await this.sample();
    return { totalMiB: Math.round(this.peakTotalKb / 1024), largestMiB: Math.round(this.peakLargestKb / 1024), processes: this.processesAtPeak };
  }

  private async sample(): Promise<void> {
    const pids = [this.pid, ...(await childPids(this.pid))];
    const sizes = await Promise.all(pids.map(rssKb));
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total > this.peakTotalKb) {
      this.peakTotalKb = total;
      this.processesAtPeak = sizes.filter((kb) => kb > 0).length;
    }
    this.peakLargestKb = Math.max(this.peakLargestKb, ...sizes);
  }
}

/** 0 once the process has exited (a sample racing its exit). */
async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}
