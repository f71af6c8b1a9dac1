import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from './postgres.js';
import { testRedisUrl } from './redis.js';

export type ServiceName = 'gateway' | 'fetcher' | 'extractor';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface OrchardOptions {
  upstreams: string;
  env?: Record<string, string>;
  services?: ServiceName[];
}

/**
 * Runs Orchard's real services as separate processes (as in production) against a fresh database,
 * a unique Redis key prefix and queue prefix, and a temporary data directory.
 */
export class OrchardProcesses {
  readonly logs: Record<ServiceName, string> = { gateway: '', fetcher: '', extractor: '' };
  readonly children = new Map<ServiceName, ChildProcess>();
  env: Record<string, string> = {};
  database!: TestDatabase;
  dataDir = '';
  gatewayUrl = '';
  ports: Record<ServiceName, number> = { gateway: 0, fetcher: 0, extractor: 0 };
  /** Extra gateway processes (same database, Redis prefixes and data directory), by URL. */
  readonly replicas = new Map<string, { child: ChildProcess; log: string }>();

  static async start(options: OrchardOptions): Promise<OrchardProcesses> {
    const orchard = new OrchardProcesses();
    await orchard.init(options);
    for (const service of options.services ?? (['gateway', 'fetcher', 'extractor'] as const)) await orchard.startService(service);
    return orchard;
  }

  private async init(options: OrchardOptions): Promise<void> {
    this.database = await createTestDatabase();
    this.dataDir = await mkdtemp(path.join(os.tmpdir(), 'orchard-data-'));
    this.ports = { gateway: await freePort(), fetcher: await freePort(), extractor: await freePort() };
    const tag = randomBytes(6).toString('hex');
    this.env = {
      DATABASE_URL: this.database.url,
      REDIS_URL: await testRedisUrl(),
      ORCHARD_UPSTREAMS: options.upstreams,
      ORCHARD_DATA_DIR: this.dataDir,
      ORCHARD_HOST: '127.0.0.1',
      ORCHARD_PORT: String(this.ports.gateway),
      ORCHARD_FETCHER_PORT: String(this.ports.fetcher),
      ORCHARD_EXTRACTOR_PORT: String(this.ports.extractor),
      ORCHARD_QUEUE_PREFIX: `test-${tag}`,
      ORCHARD_CACHE_PREFIX: `test-${tag}`,
      ORCHARD_DB_POOL_SIZE: '4',
      ORCHARD_SHUTDOWN_TIMEOUT_MS: '10000',
      // Tests that change Redis behind the gateway's back expect the change at once; the memo has its own tests.
      ORCHARD_PAGE_MEMO_MS: '0',
      // One process per gateway, so a test reads one memo and one log; several have their own tests.
      ORCHARD_GATEWAY_PROCESSES: '1',
      ...options.env,
    };
    this.gatewayUrl = `http://127.0.0.1:${this.ports.gateway}`;
  }

  async startService(service: ServiceName): Promise<void> {
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.env };
    for (const key of Object.keys(env)) if (key.startsWith('PIP_')) delete env[key];
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'services', service, 'main.ts')], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (this.logs[service] += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.logs[service] += d.toString()));
    this.children.set(service, child);
    await this.waitHealthy(service, child);
  }

  /** Sends a signal and waits for the process to exit. */
  async stopService(service: ServiceName, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const child = this.children.get(service);
    if (!child || child.exitCode !== null) return child?.exitCode ?? null;
    // 'close', not 'exit': the child's last log lines may still be in its stdout pipe at 'exit'.
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    child.kill(signal);
    const code = await exited;
    this.children.delete(service);
    return code;
  }

  /** Starts one more gateway process on its own port, sharing everything else; returns its URL. */
  async startGatewayReplica(extraEnv: Record<string, string> = {}): Promise<string> {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.env, ...extraEnv, ORCHARD_PORT: String(port) };
    for (const key of Object.keys(env)) if (key.startsWith('PIP_')) delete env[key];
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'services', 'gateway', 'main.ts')], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const url = `http://127.0.0.1:${port}`;
    const replica = { child, log: '' };
    child.stdout!.on('data', (d: Buffer) => (replica.log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (replica.log += d.toString()));
    this.replicas.set(url, replica);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`gateway replica exited with ${child.exitCode}:\n${replica.log}`);
      if (
        await fetch(`${url}/health`).then(
          (r) => r.ok,
          () => false,
        )
      )
        return url;
      if (Date.now() > deadline) throw new Error(`gateway replica did not become healthy:\n${replica.log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Every line every service (and replica) wrote so far. */
  allLogs(): string {
    return [...Object.values(this.logs), ...[...this.replicas.values()].map((r) => r.log)].join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all(
      [...this.replicas.values()].map(async ({ child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        await exited;
      }),
    );
    this.replicas.clear();
    await Promise.all([...this.children.keys()].map((s) => this.stopService(s)));
    await this.database?.drop().catch(() => {});
    if (this.dataDir) await rm(this.dataDir, { recursive: true, force: true });
  }

  private async waitHealthy(service: ServiceName, child: ChildProcess): Promise<void> {
    const url = `http://127.0.0.1:${this.ports[service]}/health`;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`${service} exited with ${child.exitCode}:\n${this.logs[service]}`);
      try {
        const res = await fetch(url);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${service} did not become healthy:\n${this.logs[service]}`);
  }
}
