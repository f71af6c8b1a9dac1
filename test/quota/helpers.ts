import { spawn } from 'node:child_process';
import path from 'node:path';
import type { OrchardProcesses } from '../support/orchard.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

export const ADMIN_TOKEN = 'quota-admin-token-0123456789';

/** Runs `npm run gc` (the script itself, through tsx) against these services, `env` overriding theirs; resolves with its output. */
export function runGc(orchard: OrchardProcesses, args: string[] = [], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'gc.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...orchard.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** An admin API call with the test token. */
export async function admin<T = Record<string, unknown>>(orchard: OrchardProcesses, pathname: string, method = 'GET'): Promise<{ status: number; body: T }> {
  const res = await fetch(`${orchard.gatewayUrl}/api/v1/admin${pathname}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const text = await res.text();
  const json = res.headers.get('content-type')?.startsWith('application/json') ?? false;
  return { status: res.status, body: (json ? JSON.parse(text) : text) as T };
}

/** The storage report of `GET /api/v1/admin/storage`. */
export interface StorageReportBody {
  quota: { bytes: number; lowWaterBytes: number; used: number } | null;
  usage: { bytes: number; files: number };
  evictedFiles: number;
  tracking: boolean;
  hitRatio: number | null;
  served: number;
  fetched: number;
  oldestServedAt: string | null;
  newestServedAt: string | null;
  topProjects: Array<{ protocol: string; project: string; bytes: number; files: number }>;
  pins: number;
}
