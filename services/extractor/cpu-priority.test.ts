import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const MODULE = path.join(import.meta.dirname, 'cpu-priority.ts');

/** Runs lowerCpuPriority(nice) in a fresh Node process; returns its outcome and every thread's nice value after it. */
function inChild(nice: number): { outcome: unknown; threads: number[] } {
  const script = `
    import { readdirSync, readFileSync } from 'node:fs';
    import { lowerCpuPriority } from ${JSON.stringify(MODULE)};
    const outcome = lowerCpuPriority(${nice});
    // Field 19 of /proc/<pid>/task/<tid>/stat, counted after the command name's closing parenthesis.
    const threads = readdirSync('/proc/self/task').map((tid) => Number(readFileSync('/proc/self/task/' + tid + '/stat', 'utf8').split(') ')[1].split(' ')[16]));
    console.log(JSON.stringify({ outcome, threads }));`;
  return JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' })) as { outcome: unknown; threads: number[] };
}

describe('lowerCpuPriority', () => {
  it('lowers every thread of the process, V8 and libuv threads included', () => {
    const { outcome, threads } = inChild(7);
    expect(outcome).toEqual({ lowered: true, nice: 7 });
    expect(threads.length).toBeGreaterThan(1);
    expect(new Set(threads)).toEqual(new Set([7]));
  });

  it('leaves the priority alone at 0', () => {
    const { outcome, threads } = inChild(0);
    expect(outcome).toEqual({ lowered: false });
    expect(new Set(threads)).toEqual(new Set([0]));
  });
});
