import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisClusterServers, redisCli } from '../../test/support/redis-cluster.js';
import { OwnRedisServer } from '../../test/support/redis.js';
import { freePort } from '../../test/support/orchard.js';
import { waitFor } from '../../test/support/wait.js';
import { deleteMatching, expireEach, getEach } from './multi-key.js';
import { createRedisClient, isCluster, type RedisClient } from './redis-client.js';
import { parseRedisUrl, queuePrefixFor } from './redis-url.js';

describe('a Redis Cluster', () => {
  let cluster: RedisClusterServers;
  let redis: RedisClient;

  beforeAll(async () => {
    cluster = await RedisClusterServers.start();
    redis = createRedisClient(cluster.url, { maxRetriesPerRequest: 3 });
  });

  afterAll(async () => {
    redis?.disconnect();
    await cluster?.stop();
  });

  it('is reached through a redis+cluster:// URL', async () => {
    expect(isCluster(redis)).toBe(true);
    await redis.set('probe', 'ok');
    expect(await redis.get('probe')).toBe('ok');
  });

  it('reads, renews and deletes keys spread over every master, one command per key', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `multi:${i}`);
    await Promise.all(keys.map((key, i) => redis.set(key, String(i))));
    const placed = await cluster.keys('multi:*');
    expect(new Set(placed.map((k) => k.port)).size).toBe(3);
    expect(await getEach(redis, [...keys, 'multi:absent'])).toEqual([...keys.map((_, i) => String(i)), null]);
    await expireEach(redis, keys, 120);
    const ttls = await Promise.all(keys.map((key) => redis.ttl(key)));
    expect(ttls.every((ttl) => ttl > 0 && ttl <= 120)).toBe(true);
    expect(await deleteMatching(redis, 'multi:*', (key) => key === 'multi:0')).toBe(59);
    expect((await cluster.keys('multi:*')).map((k) => k.key)).toEqual(['multi:0']);
  });

  it('runs BullMQ queues under the hash-tagged prefix, through a master failover', async () => {
    const prefix = queuePrefixFor(parseRedisUrl(cluster.url), 'bulltest');
    const connections = [0, 1, 2].map(() => createRedisClient(cluster.url, { maxRetriesPerRequest: null }));
    const queue = new Queue('work', { connection: connections[0]!, prefix });
    const events = new QueueEvents('work', { connection: connections[1]!, prefix });
    const done: number[] = [];
    const worker = new Worker('work', async (job) => void done.push(job.data.n as number), { connection: connections[2]!, prefix });
    // A failover unblocks the worker's blocking read with an error; the worker reports it and goes on.
    const errors: string[] = [];
    worker.on('error', (err) => errors.push(err.message));
    try {
      await Promise.all([queue.waitUntilReady(), events.waitUntilReady(), worker.waitUntilReady()]);
      for (let n = 0; n < 5; n++) await queue.add('job', { n });
      await waitFor('the first jobs', () => (done.length === 5 ? true : undefined), 20_000);
      // Every key of the queue in the one slot the hash tag names.
      const queueKeys = await cluster.keys('{bulltest}:work:*');
      expect(queueKeys.length).toBeGreaterThan(0);
      expect(new Set(queueKeys.map((k) => k.port)).size).toBe(1);
      const { from, to } = await cluster.failoverMasterOf('{bulltest}:work:wait');
      expect(from).not.toBe(to);
      for (let n = 5; n < 10; n++) await queue.add('job', { n });
      await waitFor('the jobs added after the failover', () => (done.length === 10 ? true : undefined), 30_000);
      expect([...done].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    } finally {
      await worker.close();
      await events.close();
      await queue.close();
      for (const connection of connections) connection.disconnect();
    }
  });
});

describe('a Sentinel set', () => {
  let master: OwnRedisServer;
  let replica: ChildProcess | undefined;
  let replicaPort = 0;
  let sentinel: ChildProcess | undefined;
  let dir = '';
  let port = 0;

  beforeAll(async () => {
    master = await OwnRedisServer.start();
    dir = await mkdtemp(path.join(os.tmpdir(), 'orchard-sentinel-'));
    replicaPort = await freePort();
    replica = spawn('redis-server', ['--port', String(replicaPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--replicaof', '127.0.0.1', String(master.port)], {
      stdio: 'ignore',
    });
    port = await freePort();
    const config = path.join(dir, 'sentinel.conf');
    await writeFile(
      config,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        'protected-mode no',
        `dir ${dir}`,
        `sentinel monitor orchardtest 127.0.0.1 ${master.port} 1`,
        'sentinel down-after-milliseconds orchardtest 1000',
        'sentinel failover-timeout orchardtest 10000',
        '',
      ].join('\n'),
    );
    sentinel = spawn('redis-server', [config, '--sentinel'], { stdio: 'ignore' });
  });

  afterAll(async () => {
    sentinel?.kill('SIGKILL');
    replica?.kill('SIGKILL');
    await master?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const cli = async (p: number, ...args: string[]) => (await redisCli(p, ...args)).trim();

  it('is reached through a redis+sentinel:// URL naming the master, and follows it across a failover', async () => {
    const redis = createRedisClient(`redis+sentinel://127.0.0.1:${port}/orchardtest/2`, { maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(n * 100, 500) });
    redis.on('error', () => {});
    try {
      await waitFor('the master through Sentinel', async () => ((await redis.set('sentinel-probe', 'before')) === 'OK' ? true : undefined), 15_000, 200);
      // The value is in the master's database 2, which the URL named.
      expect(await cli(master.port, '-n', '2', 'GET', 'sentinel-probe')).toBe('before');
      // The Sentinel must know the replica before it can promote it.
      await waitFor(
        'the replica in sync and known to the Sentinel',
        async () => {
          const info = await cli(replicaPort, 'INFO', 'replication');
          const replicas = await cli(port, 'SENTINEL', 'REPLICAS', 'orchardtest');
          return info.includes('master_link_status:up') && replicas.includes(String(replicaPort)) ? true : undefined;
        },
        20_000,
        200,
      );
      // It refuses (NOGOODSLAVE) until it has had the replica's own report; ask until it accepts.
      await waitFor('the Sentinel to start a failover', async () => ((await cli(port, 'SENTINEL', 'FAILOVER', 'orchardtest')) === 'OK' ? true : undefined), 30_000, 500);
      // Done once the Sentinel names the new master and the old one follows it (until then the old
      // master still takes writes, which it drops when it resyncs: Redis replication, not Orchard).
      await waitFor(
        'the failover to end',
        async () => {
          const named = await cli(port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'orchardtest');
          return named.endsWith(String(replicaPort)) && (await cli(master.port, 'ROLE')).startsWith('slave') ? true : undefined;
        },
        20_000,
        100,
      );
      // Writes go to the new master, with no new client and no configuration change.
      await waitFor('a write on the new master', async () => ((await redis.set('sentinel-probe', 'after').catch(() => 'retry')) === 'OK' ? true : undefined), 20_000, 200);
      expect(await cli(replicaPort, '-n', '2', 'GET', 'sentinel-probe')).toBe('after');
    } finally {
      redis.disconnect();
    }
  });
});
