/** One dependency's status for /ready. */
export interface CheckResult {
  status: 'ok' | 'error';
  error?: string;
  latencyMs?: number;
}

export type Check = () => Promise<unknown>;

/**
 * Runs every check concurrently, each bounded by a timeout; ready when all pass. Error messages are
 * short and carry no connection strings.
 */
export async function runChecks(
  checks: Record<string, Check>,
  timeoutMs = 2_000,
): Promise<{ ready: boolean; checks: Record<string, CheckResult> }> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]): Promise<[string, CheckResult]> => {
      const started = performance.now();
      try {
        await Promise.race([
          check(),
          new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), timeoutMs).unref()),
        ]);
        return [name, { status: 'ok', latencyMs: Math.round(performance.now() - started) }];
      } catch (err) {
        return [name, { status: 'error', error: shortReason(err) }];
      }
    }),
  );
  return { ready: entries.every(([, r]) => r.status === 'ok'), checks: Object.fromEntries(entries) };
}

function shortReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\w+:\/\/[^\s]*/g, '[url]').split('\n')[0]!.slice(0, 200);
}
