import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const CLI = path.join(import.meta.dirname, 'healthcheck-cli.ts');

async function exitCode(args: string[]): Promise<number> {
  try {
    await run(process.execPath, ['--import', 'tsx', CLI, ...args], { timeout: 20_000 });
    return 0;
  } catch (err) {
    return (err as { code: number }).code;
  }
}

describe('healthcheck-cli', () => {
  let server: http.Server;
  let port: number;
  beforeAll(async () => {
    server = http.createServer((req, res) => res.writeHead(req.url === '/ready' ? 200 : 503).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('exits 0 on a 2xx, 1 on anything else or no answer, 2 on bad arguments', async () => {
    expect(await exitCode([String(port)])).toBe(0);
    expect(await exitCode([String(port), '/health'])).toBe(1);
    expect(await exitCode(['1'])).toBe(1);
    expect(await exitCode(['nope'])).toBe(2);
  });
});
