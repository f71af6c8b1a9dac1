import { errorReason } from '../log/index.js';

/** One dependency's status for /ready: `pending` is not ready yet but on its way (migrations). */
export interface CheckResult {
  status: 'ok' | 'pending' | 'error';
  /** Why it is not ok: one short, non-empty line, never a connection string. */
  error?: string;
  latencyMs?: number;
}

export type Check = () => Promise<unknown>;

/** Thrown by a check whose dependency is on its way but not there yet; reported as `pending`. */
export class CheckPending extends Error {
  override readonly name = 'CheckPending';
}

/**
 * Runs every check concurrently, each bounded by a timeout; ready when all pass. `degraded` names
 * the checks that did not.
 */
export async function runChecks(checks: Record<string, Check>, timeoutMs = 2_000): Promise<{ ready: boolean; degraded: string[]; checks: Record<string, CheckResult> }> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]): Promise<[string, CheckResult]> => {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          check(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('timed out')), timeoutMs);
          }),
        ]);
        return [name, { status: 'ok', latencyMs: Math.round(performance.now() - started) }];
      } catch (err) {
        return [name, { status: err instanceof CheckPending ? 'pending' : 'error', error: shortReason(err) }];
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  const degraded = entries.filter(([, r]) => r.status !== 'ok').map(([name]) => name);
  return { ready: degraded.length === 0, degraded, checks: Object.fromEntries(entries) };
}

/** A readiness answer's body: `ready`/`unready`, what is degraded, each check, extra details. */
export function readinessBody(result: Awaited<ReturnType<typeof runChecks>>, details: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    status: result.ready ? 'ready' : 'unready',
    ...(result.ready ? {} : { degraded: result.degraded }),
    checks: result.checks,
    ...details,
  };
}

function shortReason(err: unknown): string {
  return errorReason(err, 400)
    .replace(/\w+:\/\/[^\s]*/g, '[url]')
    .slice(0, 200);
}
