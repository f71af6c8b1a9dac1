import { timedDownload } from './clients.js';

export interface HerdTimes {
  wallSeconds: number;
  firstByteP50Seconds: number;
  firstByteP99Seconds: number;
}

/** `clients` concurrent downloads started at once (`urlFor(i)` for client i); wall time and first-byte quantiles. */
export async function herd(urlFor: (i: number) => string, clients: number): Promise<HerdTimes> {
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: clients }, (_, i) => timedDownload(urlFor(i), started)));
  const firsts = results.map((r) => r.firstByte).sort((a, b) => a - b);
  const at = (q: number) => firsts[Math.min(firsts.length - 1, Math.floor(q * firsts.length))]!;
  return { wallSeconds: Math.max(...results.map((r) => r.done)), firstByteP50Seconds: at(0.5), firstByteP99Seconds: at(0.99) };
}
