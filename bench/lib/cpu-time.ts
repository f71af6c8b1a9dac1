import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Linux's clock tick (USER_HZ): the unit of /proc's CPU times. */
const CLOCK_TICK_MS = 10;

/** CPU time of a process (user + system) in ms, with its waited-for children's when asked; 0 once it is gone. */
export function cpuMs(pid: number | 'self', withChildren = false): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const own = Number(fields[11]) + Number(fields[12]);
    return (own + (withChildren ? Number(fields[13]) + Number(fields[14]) : 0)) * CLOCK_TICK_MS;
  } catch {
    // exited meanwhile
    return 0;
  }
}

/** The pids of every process with this exact name (`pgrep -x`); none when none runs. */
export function pidsNamed(name: string): number[] {
  try {
    const out = execFileSync('pgrep', ['-x', name], { encoding: 'utf8' }).trim();
    return out ? out.split('\n').map(Number) : [];
  } catch (err) {
    // pgrep exits 1 when no process matched; anything else is a real failure.
    if ((err as { status?: number }).status === 1) return [];
    throw err;
  }
}

/** CPU time in ms of these processes together. */
export function cpuMsOf(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + cpuMs(pid), 0);
}
