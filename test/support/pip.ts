import { spawn } from 'node:child_process';

export interface PipResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs real pip with every machine-wide setting ignored (`--isolated`, no PIP_* variables, no
 * config file, no cache): this machine's pip is configured with local indexes and find-links that
 * would otherwise let an install bypass the gateway.
 */
export function runPip(args: string[], options: { python?: string; timeoutMs?: number } = {}): Promise<PipResult> {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PIP_') && key !== 'PYTHONPATH') env[key] = value;
  }
  env.PIP_CONFIG_FILE = '/dev/null';
  const python = options.python ?? 'python3';
  const fullArgs = ['-m', 'pip', '--isolated', '--disable-pip-version-check', '--no-cache-dir', '--no-input', ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(python, fullArgs, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}
