import { timedDownload } from './clients.js';
import { percentile } from './stats.js';

export interface HerdTimes {
  wallSeconds: number;
  firstByteP50Seconds: number;
  firstByteP99Seconds: number;
}

/** `clients` concurrent downloads started at once (`urlFor(i)` for client i); wall time and first-byte quantiles. */
export async function herd(urlFor: (i: number) => string, clients: number): Promise<HerdTimes> {
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: clients }, (_, i) => timedDownload(urlFor(i), started)));
  const firsts = results.map((r) => r.firstByte);
  return { wallSeconds: Math.max(...results.map((r) => r.done)), firstByteP50Seconds: percentile(firsts, 0.5), firstByteP99Seconds: percentile(firsts, 0.99) };
}
