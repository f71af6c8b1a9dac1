/**
 * `npm audit --omit=dev --audit-level=high`: no high or critical advisory in production
 * dependencies. When the registry's audit endpoint cannot be reached or does not answer audits
 * (some mirrors answer 405), the test is skipped with that reason rather than passing silently.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '..', '..');

interface AuditReport {
  error?: unknown;
  statusCode?: number;
  message?: string;
  metadata?: { vulnerabilities: Record<'info' | 'low' | 'moderate' | 'high' | 'critical' | 'total', number> };
  vulnerabilities?: Record<string, { severity: string; via: unknown[] }>;
}

describe('npm audit', () => {
  it('finds no high or critical advisory in production dependencies', async (ctx) => {
    // npm audit exits non-zero when it finds something; the JSON report is on stdout either way.
    const { stdout } = await run('npm', ['audit', '--omit=dev', '--audit-level=high', '--json'], { cwd: ROOT, timeout: 90_000, maxBuffer: 32 * 1024 * 1024 }).catch(
      (err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }),
    );
    let report: AuditReport;
    try {
      report = JSON.parse(stdout) as AuditReport;
    } catch {
      ctx.skip(`npm audit gave no report (registry unreachable?): ${stdout.slice(0, 200)}`);
      return;
    }
    if (!report.metadata) {
      ctx.skip(`the registry's audit endpoint did not answer: ${report.message ?? JSON.stringify(report.error).slice(0, 200)}`);
      return;
    }
    const serious = Object.entries(report.vulnerabilities ?? {})
      .filter(([, v]) => v.severity === 'high' || v.severity === 'critical')
      .map(([name, v]) => `${name} (${v.severity})`);
    expect(serious).toEqual([]);
    expect(report.metadata.vulnerabilities.high + report.metadata.vulnerabilities.critical).toBe(0);
  });
});
