import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/** One node of the test's cluster: its port and whether it is a master now. */
export interface ClusterNodeInfo {
  port: number;
  id: string;
  master: boolean;
  /** Slot ranges a master serves, e.g. [[0, 5460]]. */
  slots: Array<[number, number]>;
  /** A replica's master id. */
  masterId?: string;
}

/**
 * A real Redis Cluster of the test's own: six `redis-server --cluster-enabled yes` processes on
 * loopback ports (three masters, one replica each), made into a cluster by `redis-cli --cluster
 * create`. No persistence; every node's files live in a temporary directory removed by {@link stop}.
 */
export class RedisClusterServers {
  private readonly children: ChildProcess[] = [];
  private log = '';

  private constructor(
    readonly ports: number[],
    private readonly dir: string,
  ) {}

  static async start(size = 6): Promise<RedisClusterServers> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'orchard-redis-cluster-'));
    const cluster = new RedisClusterServers(await clusterPorts(size), dir);
    try {
      await cluster.boot();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** `redis+cluster://…` naming every node (Orchard's REDIS_URL form). */
  get url(): string {
    return `redis+cluster://${this.ports.map((port) => `127.0.0.1:${port}`).join(',')}`;
  }

  private async boot(): Promise<void> {
    for (const port of this.ports) {
      const child = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--protected-mode',
          'no',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-node-timeout',
          '2000',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          this.dir,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child.stdout!.on('data', (d: Buffer) => (this.log += `[${port}] ${d.toString()}`));
      child.stderr!.on('data', (d: Buffer) => (this.log += `[${port}] ${d.toString()}`));
      this.children.push(child);
    }
    for (const port of this.ports) await waitFor(`redis node ${port}`, async () => ((await this.cli(port, 'PING')).trim() === 'PONG' ? true : undefined), 10_000, 50);
    const nodes = this.ports.map((port) => `127.0.0.1:${port}`);
    await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '1', '--cluster-yes'], { timeout: 60_000 });
    await waitFor(
      'the cluster to be ok on every node',
      async () => {
        for (const port of this.ports) if (!(await this.cli(port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return undefined;
        const nodes = await this.nodes();
        return nodes.filter((n) => n.master).length === this.ports.length / 2 && nodes.every((n) => n.master || n.masterId) ? true : undefined;
      },
      30_000,
      100,
    );
  }

  /** Runs one command on one node with redis-cli; returns its output. */
  cli(port: number, ...args: string[]): Promise<string> {
    return redisCli(port, ...args);
  }

  /** The cluster as one node sees it (CLUSTER NODES). */
  async nodes(from = this.ports[0]!): Promise<ClusterNodeInfo[]> {
    const text = await this.cli(from, 'CLUSTER', 'NODES');
    return text
      .trim()
      .split('\n')
      .map((line) => {
        const [id, address, flags, masterId, , , , , ...slots] = line.split(' ');
        const port = Number(address!.split('@')[0]!.split(':')[1]);
        const master = flags!.split(',').includes('master');
        return {
          port,
          id: id!,
          master,
          slots: slots.filter((s) => !s.startsWith('[')).map((s) => (s.includes('-') ? (s.split('-').map(Number) as [number, number]) : [Number(s), Number(s)])),
          ...(masterId && masterId !== '-' ? { masterId } : {}),
        };
      });
  }

  /** The master serving a key's slot now. */
  async masterOf(key: string): Promise<ClusterNodeInfo> {
    const slot = Number((await this.cli(this.ports[0]!, 'CLUSTER', 'KEYSLOT', key)).trim());
    const master = (await this.nodes()).find((n) => n.master && n.slots.some(([from, to]) => slot >= from && slot <= to));
    if (!master) throw new Error(`no master serves slot ${slot}`);
    return master;
  }

  /**
   * A manual failover of the master serving `key` (CLUSTER FAILOVER on one of its replicas), waited
   * for until the replica is master; returns the old and new master's ports.
   */
  async failoverMasterOf(key: string): Promise<{ from: number; to: number }> {
    const master = await this.masterOf(key);
    const replica = (await this.nodes()).find((n) => n.masterId === master.id);
    if (!replica) throw new Error(`master ${master.port} has no replica`);
    // A manual failover needs a replica in sync; one asked too early gives up silently, so ask again.
    await waitFor(
      `replica ${replica.port} in sync`,
      async () => ((await this.cli(replica.port, 'INFO', 'replication')).includes('master_link_status:up') ? true : undefined),
      20_000,
      50,
    );
    const promoted = async () => ((await this.cli(replica.port, 'ROLE')).startsWith('master') ? true : undefined);
    for (let attempt = 1; ; attempt++) {
      await this.cli(replica.port, 'CLUSTER', 'FAILOVER');
      try {
        await waitFor(`replica ${replica.port} to take over from ${master.port}`, promoted, 8_000, 50);
        return { from: master.port, to: replica.port };
      } catch (err) {
        if (attempt === 3) throw err;
      }
    }
  }

  /** Every key matching a pattern on every master (SCAN per node). */
  async keys(pattern: string): Promise<Array<{ port: number; key: string }>> {
    const found: Array<{ port: number; key: string }> = [];
    for (const node of (await this.nodes()).filter((n) => n.master)) {
      const out = await this.cli(node.port, '--scan', '--pattern', pattern);
      for (const key of out.split('\n').filter(Boolean)) found.push({ port: node.port, key });
    }
    return found;
  }

  /** Everything the nodes logged (for a failing test's message). */
  logs(): string {
    return this.log;
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGKILL');
        await exited;
      }),
    );
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Runs one command with redis-cli on a loopback port; returns its output. */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-p', String(port), ...args], { timeout: 10_000 });
  return stdout;
}

/** `size` free loopback ports whose cluster bus ports (port + 10000) are free too. */
async function clusterPorts(size: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < size) {
    const port = 20_000 + Math.floor(Math.random() * 35_000);
    if (ports.includes(port) || ports.includes(port + 10_000) || ports.includes(port - 10_000)) continue;
    if ((await isFree(port)) && (await isFree(port + 10_000))) ports.push(port);
  }
  return ports;
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
