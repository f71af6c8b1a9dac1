/** Polls `probe` until it returns a value (not undefined), synchronising on state rather than sleeping blindly. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface LogLine {
  level: number;
  time: string;
  service: string;
  msg: string;
  [key: string]: unknown;
}

/**
 * A service's output as log records. Every line must be a JSON object with level, time, service
 * and msg (so `grep`-free log pipelines can rely on it); anything else fails the test.
 */
export function logLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch {
        throw new Error(`not a JSON log line: ${line}`);
      }
      const r = record as LogLine;
      if (typeof r.level !== 'number' || typeof r.time !== 'string' || typeof r.service !== 'string' || typeof r.msg !== 'string') {
        throw new Error(`log line without level, time, service or msg: ${line}`);
      }
      return r;
    });
}
