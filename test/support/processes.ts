import { readFile } from 'node:fs/promises';

/** The pids of a process's children (Linux: `/proc/<pid>/task/<pid>/children`); none once it has exited. */
export async function childPids(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.trim().split(/\s+/).filter(Boolean).map(Number);
}
