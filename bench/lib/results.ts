import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

const RESULTS = path.join(import.meta.dirname, '..', 'results');

/**
 * Writes one run's figures to `bench/results/bench-<UTC date and minute>[-<kind>].json`, one file per
 * run, kept in the repository (the raw rounds behind the README's tables); returns its path.
 */
export async function writeBenchResults(data: unknown, kind?: string, date = new Date().toISOString()): Promise<string> {
  await mkdir(RESULTS, { recursive: true });
  const out = path.join(RESULTS, `bench-${date.slice(0, 16).replace(':', '-')}${kind ? `-${kind}` : ''}.json`);
  await writeFile(out, `${JSON.stringify(data, null, 2)}\n`);
  return out;
}
