import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { Redis } from 'ioredis';
import { useContainers } from './containers.js';

const DEFAULT_URL = 'redis://127.0.0.1:6379/0';

let containerUrl: Promise<string> | undefined;

function startContainer(): Promise<string> {
  containerUrl ??= import('@testcontainers/redis').then(async ({ RedisContainer }) => {
    const container = await new RedisContainer('redis:7-alpine').start();
    return `${container.getConnectionUrl()}/0`;
  });
  return containerUrl;
}

/**
 * URL of the Redis the integration tests share: a testcontainers Redis when containers are in use
 * (see `useContainers`), otherwise `ORCHARD_TEST_REDIS_URL` or the local server. Tests isolate
 * themselves with unique key and queue prefixes, never by flushing.
 */
export async function testRedisUrl(): Promise<string> {
  if (await useContainers('ORCHARD_TEST_REDIS_URL')) return startContainer();
  return process.env['ORCHARD_TEST_REDIS_URL'] ?? DEFAULT_URL;
}

/**
 * A redis-server of the test's own, as a child process on a free loopback port, for tests that
 * stop Redis and start it again (the shared server is never stopped). No persistence.
 */
export class OwnRedisServer {
  private child?: ChildProcess;
  private log = '';

  private constructor(readonly port: number) {}

  /** Whether a `redis-server` binary is on the PATH. */
  static async available(): Promise<boolean> {
    return new Promise((resolve) => {
      const probe = spawn('redis-server', ['--version'], { stdio: 'ignore' });
      probe.on('error', () => resolve(false));
      probe.on('exit', (code) => resolve(code === 0));
    });
  }

  static async start(): Promise<OwnRedisServer> {
    const server = new OwnRedisServer(await freeLoopbackPort());
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts (or restarts, on the same port) the server and waits until it answers PING. */
  async start(): Promise<void> {
    if (this.running) return;
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (this.log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    this.child = child;
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}:\n${this.log}`);
      if (await this.ping()) return;
      if (Date.now() > deadline) throw new Error(`redis-server on ${this.port} did not answer:\n${this.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops the server (SIGTERM to this child only) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
  }

  private async ping(): Promise<boolean> {
    const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
    client.on('error', () => {});
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  }
}

async function freeLoopbackPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
