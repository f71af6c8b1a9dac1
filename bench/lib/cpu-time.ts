import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Linux's clock tick (USER_HZ): the unit of /proc's CPU times. */
const CLOCK_TICK_MS = 10;

/** The fields of /proc/<pid>/stat after the command name (index 0 is field 3, the state); null once the process is gone. */
function statFields(pid: number | 'self'): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  } catch {
    // exited meanwhile
    return null;
  }
}

/** CPU time of a process (user + system) in ms, with its waited-for children's when asked; 0 once it is gone. */
export function cpuMs(pid: number | 'self', withChildren = false): number {
  const fields = statFields(pid);
  if (!fields) return 0;
  const own = Number(fields[11]) + Number(fields[12]);
  return (own + (withChildren ? Number(fields[13]) + Number(fields[14]) : 0)) * CLOCK_TICK_MS;
}

/**
 * Minor page faults of these processes together (0 for one that is gone): pages first touched, such
 * as those of freshly mapped buffers (the slow mode of cached streams in issue 18's fourth pass).
 */
export function minorFaultsOf(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + Number(statFields(pid)?.[7] ?? 0), 0);
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
