export { waitFor } from '../support/wait.js';

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
