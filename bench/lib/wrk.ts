import { spawn } from 'node:child_process';

export interface LoadResult {
  requestsPerSecond: number;
  bytesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Socket errors (connect, read, write, timeout); a non-2xx answer fails the run instead. */
  errors: number;
}

/** Runs wrk (Debian's package) against one URL and parses its summary. */
export function runWrk(
  url: string,
  options: { connections: number; seconds: number; headers?: Record<string, string>; threads?: number; timeoutSeconds?: number },
): Promise<LoadResult> {
  // A 200 MB download takes longer than wrk's 2 s default timeout: it would count as an error.
  const args = ['-t', String(options.threads ?? 2), '-c', String(options.connections), '-d', `${options.seconds}s`, '--latency', '--timeout', `${options.timeoutSeconds ?? 30}s`];
  for (const [k, v] of Object.entries(options.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', () => {
      try {
        resolve(parseWrk(out));
      } catch (err) {
        reject(new Error(`${(err as Error).message}\n${out}`));
      }
    });
  });
}

function parseWrk(out: string): LoadResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const transfer = /Transfer\/sec:\s+([\d.]+)(\w+)/.exec(out);
  const p50 = /\s50%\s+([\d.]+)(\w+)/.exec(out);
  const p99 = /\s99%\s+([\d.]+)(\w+)/.exec(out);
  if (!rps || !transfer || !p50 || !p99) throw new Error('could not parse wrk output');
  // A figure measured against error pages would be meaningless (a 403 is far cheaper than a page).
  const errors = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  if (errors) throw new Error(`${errors[1]} responses were not 2xx`);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requestsPerSecond: Number(rps[1]),
    bytesPerSecond: Number(transfer[1]) * unitBytes(transfer[2]!),
    p50Ms: Number(p50[1]) * unitMs(p50[2]!),
    p99Ms: Number(p99[1]) * unitMs(p99[2]!),
    errors: socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
  };
}

function unitMs(unit: string): number {
  return ({ us: 0.001, ms: 1, s: 1000, m: 60_000 } as Record<string, number>)[unit] ?? NaN;
}

function unitBytes(unit: string): number {
  return ({ B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 } as Record<string, number>)[unit] ?? NaN;
}
