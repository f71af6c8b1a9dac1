/**
 * Scale-out for real: two gateways, two fetchers and two extractors, each on a host of its own (a
 * network namespace on one bridge, support/netns.ts), sharing PostgreSQL, Redis, S3 and the
 * upstream of the infrastructure host (the root namespace, reached at the bridge address; the
 * loopback-only PostgreSQL, Redis and S3 through forwarders there). Each fetcher advertises its own
 * address (ORCHARD_FETCHER_STREAM_URL), so a gateway follows a download running on another host.
 *
 * (a) pip installs through either gateway at once, and each file is downloaded once, by a fetcher;
 * (b) a herd of cold requests split over both gateways causes one upstream download;
 * (c) a gateway, a fetcher and an extractor killed with SIGKILL mid-install lose nothing: the
 *     install through the surviving gateway completes, the download and the extraction the dead
 *     workers held are taken over, every file is stored once and every artifact is extracted.
 *
 * The upstream sees which host asked (its request log keeps the client address), so "downloaded by
 * a fetcher" and "never by pip itself" are read from it, not inferred.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel, wheelName, type BuiltDist } from '../support/dists.js';
import { runPip, type PipResult } from '../support/pip.js';
import { scrape, valueOf } from '../support/prometheus.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { testRedisUrl } from '../support/redis.js';
import { s3ServiceEnv, startTestS3, testS3Client, type TestS3 } from '../support/s3.js';
import { FakeUpstream, type RequestRecord } from '../support/upstream-server.js';
import { query, waitFor } from './support/helpers.js';
import { TestNetwork, removeLeftoverNetworks, type HostProcess } from './support/netns.js';
import { TcpProxy } from './support/tcp-proxy.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

type ServiceName = 'gateway' | 'fetcher' | 'extractor';
/** One service per host. */
const HOSTS = {
  'gateway-a': 'gateway',
  'gateway-b': 'gateway',
  'fetcher-1': 'fetcher',
  'fetcher-2': 'fetcher',
  'extractor-1': 'extractor',
  'extractor-2': 'extractor',
} as const satisfies Record<string, ServiceName>;
type HostName = keyof typeof HOSTS;
const HOST_NAMES = Object.keys(HOSTS) as HostName[];
/** Every host has its own port space, so each service keeps its default port. */
const PORT: Record<ServiceName, number> = { gateway: 8080, fetcher: 9101, extractor: 9102 };

interface Wheel extends BuiltDist {
  name: string;
  requiresDist: string[];
}

interface Install extends PipResult {
  target: string;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('topology: 2 gateways, 2 fetchers, 2 extractors on six hosts', () => {
  const upstream = new FakeUpstream();
  const tag = randomBytes(6).toString('hex');
  const queuePrefix = `topo-${tag}`;
  const processes = new Map<HostName, HostProcess>();
  const proxies: TcpProxy[] = [];
  const wheels = new Map<string, Wheel>();
  let network: TestNetwork | undefined;
  let database: TestDatabase | undefined;
  let s3: TestS3 | undefined;
  let s3Client: S3Client | undefined;
  let redis: Redis | undefined;
  let scratch = '';

  const address = (host: HostName) => network!.host(host).address;
  const serviceUrl = (host: HostName) => `http://${address(host)}:${PORT[HOSTS[host]]}`;
  const fetcherAddresses = () => [address('fetcher-1'), address('fetcher-2')];
  const service = (host: HostName) => processes.get(host)!;

  async function publish(name: string, version: string, requiresDist: string[], padBytes: number): Promise<Wheel> {
    const wheel = { ...(await buildWheel({ name, version, requiresDist, padBytes })), name, requiresDist };
    upstream.publish(name, { filename: wheel.filename, bytes: wheel.bytes });
    wheels.set(wheel.filename, wheel);
    return wheel;
  }

  /** Real pip, isolated from this machine's settings (support/pip.ts), against one gateway's index. */
  async function pipInstall(host: HostName, requirement: string): Promise<Install> {
    const target = await mkdtemp(path.join(scratch, `pip-${host}-`));
    const args = ['install', '--index-url', `${serviceUrl(host)}/simple/`, '--trusted-host', address(host), '--target', target, requirement];
    return { ...(await runPip(args, { timeoutMs: 150_000 })), target };
  }

  async function expectInstalled(install: Install, projects: Wheel[]): Promise<void> {
    expect(install.code, install.stderr).toBe(0);
    const installed = await readdir(install.target);
    for (const wheel of projects) expect(installed).toContain(wheelName(wheel.name));
  }

  /** The file downloads the upstream saw for a wheel. */
  const downloadsOf = (wheel: Wheel) => upstream.requestsFor(`/files/${wheel.filename}`);

  /**
   * Every upstream request came from one of Orchard's hosts (never from pip, in the root namespace),
   * and every file download from a fetcher: no gateway streamed a file straight from the upstream,
   * except those `passedThrough` (by gateway address and path).
   */
  function expectOnlyOrchardAskedUpstream(passedThrough: (r: RequestRecord) => boolean = () => false): void {
    const services = new Set(HOST_NAMES.map(address));
    expect(upstream.requests.filter((r) => r.userAgent !== 'orchard' || !services.has(r.remoteAddress ?? ''))).toEqual([]);
    const fetchers = new Set(fetcherAddresses());
    expect(upstream.fileRequests().filter((r) => !fetchers.has(r.remoteAddress ?? '') && !passedThrough(r))).toEqual([]);
  }

  async function startService(host: HostName, shared: Record<string, string>): Promise<void> {
    const service = HOSTS[host];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...shared,
      ORCHARD_HOST: address(host),
      // What the gateways on the other hosts reach this fetcher at.
      ORCHARD_FETCHER_STREAM_URL: `http://${address(host)}:${PORT.fetcher}`,
      ORCHARD_FETCHER_SPOOL_DIR: path.join(scratch, `spool-${host}`),
    };
    for (const key of Object.keys(env)) if (key.startsWith('PIP_')) delete env[key];
    const child = network!.spawn(host, process.execPath, ['--import', 'tsx', path.join(ROOT, 'services', service, 'main.ts')], { cwd: ROOT, env });
    processes.set(host, child);
    // Ready, not only healthy: it reached PostgreSQL, Redis and S3 over the bridge.
    await child.waitForOk(`${serviceUrl(host)}/ready`);
  }

  /** A forwarder on the bridge address to a server that listens on loopback only; returns its address. */
  async function forward(target: URL, defaultPort: number): Promise<{ hostname: string; port: string }> {
    const proxy = new TcpProxy(target.hostname, Number(target.port || defaultPort), network!.bridgeAddress);
    proxies.push(proxy);
    await proxy.start();
    return { hostname: network!.bridgeAddress, port: String(proxy.port) };
  }

  beforeAll(async () => {
    await removeLeftoverNetworks();
    network = await TestNetwork.create(HOST_NAMES);
    scratch = await mkdtemp(path.join(os.tmpdir(), 'orchard-topology-'));

    upstream.host = network.bridgeAddress;
    await upstream.start();
    s3 = await startTestS3();
    s3Client = testS3Client(s3);
    database = await createTestDatabase();
    const redisUrl = await testRedisUrl();
    redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });

    const dbUrl = new URL(database.url);
    Object.assign(dbUrl, await forward(new URL(database.url), 5432));
    const queueRedisUrl = new URL(redisUrl);
    Object.assign(queueRedisUrl, await forward(new URL(redisUrl), 6379));
    const s3Endpoint = new URL(s3.endpoint);
    Object.assign(s3Endpoint, await forward(new URL(s3.endpoint), 80));

    // Migrated once, as a deployment's migration job does; the services never run DDL.
    const migrate = await runNode(['--import', 'tsx', path.join(ROOT, 'libs', 'db', 'migrate-cli.ts')], { DATABASE_URL: database.url });
    if (migrate.code !== 0) throw new Error(`migration failed:\n${migrate.output}`);

    const shared: Record<string, string> = {
      DATABASE_URL: dbUrl.toString(),
      REDIS_URL: queueRedisUrl.toString(),
      ...s3ServiceEnv(s3, s3Endpoint.origin),
      ORCHARD_UPSTREAMS: `local=${upstream.url}`,
      ORCHARD_MIGRATE: 'off',
      ORCHARD_PORT: String(PORT.gateway),
      ORCHARD_FETCHER_PORT: String(PORT.fetcher),
      ORCHARD_EXTRACTOR_PORT: String(PORT.extractor),
      ORCHARD_QUEUE_PREFIX: queuePrefix,
      ORCHARD_CACHE_PREFIX: queuePrefix,
      ORCHARD_DB_POOL_SIZE: '4',
      ORCHARD_SHUTDOWN_TIMEOUT_MS: '10000',
      ORCHARD_PAGE_MEMO_MS: '0',
      ORCHARD_GATEWAY_PROCESSES: '1',
      // A dead worker's job is handed to another after ~2 s (its lock) + one check.
      ORCHARD_JOB_STALLED_MS: '1000',
      // Under pip's 15 s read timeout; long enough that no gateway gives up on a job and streams a
      // file straight from the upstream while a fetcher is being replaced.
      ORCHARD_FETCH_WAIT_MS: '10000',
      // One extraction at a time per extractor: two extractions blocked at once are one on each.
      ORCHARD_EXTRACTOR_CONCURRENCY: '1',
      ORCHARD_DATA_DIR: path.join(scratch, 'unused-fs-store'),
    };
    await Promise.all(HOST_NAMES.map((host) => startService(host, shared)));
  }, 180_000);

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [host, p] of processes) console.log(`--- ${host}\n${p.log}`);
    const steps: Array<() => Promise<unknown>> = [
      () => Promise.all([...processes.values()].map((p) => p.stop())),
      () => Promise.all(proxies.map((p) => p.cut())),
      () => upstream.stop(),
      async () => s3Client?.destroy(),
      async () => s3?.stop(),
      async () => database?.drop(),
      async () => redis?.quit(),
      async () => network?.destroy(),
      async () => scratch && rm(scratch, { recursive: true, force: true }),
    ];
    // Every step runs whatever an earlier one did.
    for (const step of steps) await step().catch((err: unknown) => console.error('topology cleanup:', err));
  }, 60_000);

  it('(a) pip installs through gateway A and gateway B at once; each file is downloaded once, by a fetcher on another host', async () => {
    const lib3 = await publish('alpha-lib3', '1.0.0', [], 200_000);
    const lib2 = await publish('alpha-lib2', '1.0.0', ['alpha-lib3>=1'], 200_000);
    const lib1 = await publish('alpha-lib1', '1.0.0', [], 200_000);
    const app = await publish('alpha-app', '1.0.0', ['alpha-lib1', 'alpha-lib2'], 200_000);
    const tree = [app, lib1, lib2, lib3];

    const [viaA, viaB] = await Promise.all([pipInstall('gateway-a', 'alpha-app'), pipInstall('gateway-b', 'alpha-app')]);
    await expectInstalled(viaA, tree);
    await expectInstalled(viaB, tree);
    for (const wheel of tree) {
      const downloads = downloadsOf(wheel);
      expect(downloads, wheel.filename).toHaveLength(1);
      expect(fetcherAddresses()).toContain(downloads[0]!.remoteAddress);
    }
    expectOnlyOrchardAskedUpstream();
  });

  it('(b) 20 concurrent cold GETs of one file, half to each gateway: one upstream download, 20 verified bodies', async () => {
    const wheel = await publish('herd-file', '1.0.0', [], 1_500_000);
    // About 2 s of body: every request arrives while the one download runs, and follows it as it
    // arrives (from the fetcher's ops port, on another host) rather than waiting for the stored file.
    upstream.fileFaults.set(wheel.filename, { kind: 'slow', chunkBytes: 64 * 1024, intervalMs: 80 });
    expect((await fetch(`${serviceUrl('gateway-a')}/simple/herd-file/`)).status).toBe(200);
    const answers = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const res = await fetch(`${serviceUrl(i % 2 === 0 ? 'gateway-a' : 'gateway-b')}/files/herd-file/${wheel.sha256}/${wheel.filename}`, {
          signal: AbortSignal.timeout(60_000),
        });
        return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
      }),
    );
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(sha256(answer.body)).toBe(wheel.sha256);
    }
    const downloads = downloadsOf(wheel);
    expect(downloads).toHaveLength(1);
    expect(downloads[0]!.finished).toBe(true);
    expect(fetcherAddresses()).toContain(downloads[0]!.remoteAddress);
    // Both gateways streamed bytes from the fetcher's spool, at the URL it advertised.
    for (const gateway of ['gateway-a', 'gateway-b'] as const) {
      expect(valueOf(await scrape(serviceUrl(gateway)), 'orchard_bytes_served_total', { source: 'fetcher' }), gateway).toBeGreaterThan(0);
    }
    expectOnlyOrchardAskedUpstream();
  });

  it('(c) SIGKILL of gateway A, fetcher 1 and extractor 1 mid-install loses nothing: the install completes through gateway B, their jobs are taken over', async () => {
    const libs: Wheel[] = [];
    for (let i = 1; i <= 8; i++) libs.push(await publish(`gamma-lib${i}`, '1.0.0', i > 1 ? [`gamma-lib${i - 1}`] : [], 1_000_000));
    const app = await publish(
      'gamma-app',
      '2.0.0',
      libs.map((l) => l.name),
      100_000,
    );
    const tree = [app, ...libs];
    // About 0.8 s per download, so that one is certainly running when the hosts die.
    for (const wheel of libs) upstream.fileFaults.set(wheel.filename, { kind: 'slow', chunkBytes: 64 * 1024, intervalMs: 50 });

    // So that the jobs running when the hosts die are certainly the dying workers': fetcher 2 is
    // paused (every download goes to fetcher 1), and extractions are held in PostgreSQL (each
    // extractor, one job at a time, then holds one). Both are released right after the kill.
    const lock = new pg.Client({ connectionString: database!.url });
    await lock.connect();
    let installs: [Promise<Install>, Promise<Install>] | undefined;
    let cut: RequestRecord | undefined;
    try {
      await lock.query('BEGIN');
      await lock.query('LOCK TABLE release IN EXCLUSIVE MODE');
      service('fetcher-2').signal('SIGSTOP');

      let settled = false;
      installs = [pipInstall('gateway-a', 'gamma-app'), pipInstall('gateway-b', 'gamma-app')];
      void Promise.race(installs).finally(() => (settled = true));
      const midInstall = async <T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> =>
        waitFor(what, async () => {
          if (settled) throw new Error('an install ended before the kill');
          return probe();
        });

      await midInstall('an extraction held by each extractor', async () => ((await blockedExtractions(database!.url)) >= 2 ? true : undefined));
      const fetcher1 = address('fetcher-1');
      cut = await midInstall('a download running on fetcher 1', () => upstream.fileRequests().find((r) => r.remoteAddress === fetcher1 && !r.finished));
      if (settled) throw new Error('an install ended before the kill');

      const dying: HostName[] = ['gateway-a', 'fetcher-1', 'extractor-1'];
      for (const host of dying) service(host).signal('SIGKILL');
      await Promise.all(dying.map((host) => service(host).exited));
      expect(cut.finished).toBeUndefined();

      await lock.query('COMMIT');
      service('fetcher-2').signal('SIGCONT');

      // The install through the surviving gateway goes on as if nothing happened.
      const viaB = await installs[1];
      await expectInstalled(viaB, tree);
      // The one through the dead gateway broke off (unless it had everything already); its user runs
      // it again against the other gateway, as a load balancer would send them there.
      let viaA = await installs[0];
      if (viaA.code !== 0) viaA = await pipInstall('gateway-b', 'gamma-app');
      await expectInstalled(viaA, tree);

      // The download cut off on fetcher 1 was taken over and completed by fetcher 2.
      const redone = upstream.requestsFor(cut.path).filter((r) => r.remoteAddress === address('fetcher-2'));
      expect(redone.filter((r) => r.finished)).toHaveLength(1);
      const cutWheel = wheels.get(path.basename(cut.path))!;
      expect((await stalledJobs('fetch')).some((id) => id.startsWith(cutWheel.sha256))).toBe(true);
    } finally {
      // Ending the connection releases the lock anyway; a failed ROLLBACK only says so.
      await lock.query('ROLLBACK').catch((err: unknown) => console.warn(`ROLLBACK of the release lock failed: ${(err as Error).message}`));
      await lock.end();
      service('fetcher-2').signal('SIGCONT');
      await Promise.allSettled(installs ?? []);
    }

    // Every artifact extracted, the one held by the dead extractor included.
    await waitFor(
      'every artifact of the tree extracted',
      async () => {
        const rows = await query<{ n: number }>(database!.url, `SELECT count(*)::int AS n FROM release WHERE metadata_status = 'ok' AND artifact_sha256 = ANY($1)`, [
          tree.map((w) => w.sha256),
        ]);
        return rows[0]!.n === tree.length ? true : undefined;
      },
      60_000,
    );
    expect((await stalledJobs('extract')).length).toBeGreaterThan(0);
    for (const wheel of tree) {
      const deps = await query<{ raw: string }>(database!.url, 'SELECT raw FROM artifact_dependency WHERE artifact_sha256 = $1 ORDER BY raw', [wheel.sha256]);
      expect(deps.map((d) => d.raw)).toEqual([...wheel.requiresDist].sort());
      const facts = await fetch(`${serviceUrl('gateway-b')}/api/v1/artifacts/${wheel.sha256}`).then(
        (r) => r.json() as Promise<{ metadataStatus: string; version: string; dependencies: unknown[] }>,
      );
      expect(facts).toMatchObject({ metadataStatus: 'ok', version: wheel.filename.split('-')[1] });
      expect(facts.dependencies).toHaveLength(wheel.requiresDist.length);
    }
    expect(await failedJobs()).toEqual([]);

    // Every file stored once: one row, fetched once, one object that hashes to its key, and nothing else in the store.
    for (const wheel of tree) {
      const rows = await query<{ fetch_count: number }>(database!.url, 'SELECT fetch_count FROM artifact WHERE sha256 = $1', [wheel.sha256]);
      expect(rows, wheel.filename).toEqual([{ fetch_count: 1 }]);
      expect(sha256(await storedObject(wheel.sha256))).toBe(wheel.sha256);
    }
    expect((await storedBlobs()).sort()).toEqual([...wheels.values()].map((w) => w.sha256).sort());
    // A gateway that turned to fetcher 1 for the cut file just after it died got no byte from it and
    // streamed that file from the upstream itself (not stored); nothing else was passed through.
    expectOnlyOrchardAskedUpstream((r) => r.remoteAddress === address('gateway-b') && r.path === cut!.path);
  }, 240_000);

  /** Ids of the jobs of one queue that the stalled-job check handed back (BullMQ's event stream). */
  async function stalledJobs(queue: 'fetch' | 'extract'): Promise<string[]> {
    return (await queueEvents(queue)).filter((e) => e.event === 'stalled').map((e) => e.jobId ?? '');
  }

  async function failedJobs(): Promise<Array<Record<string, string>>> {
    const events = [...(await queueEvents('fetch')), ...(await queueEvents('extract'))];
    return events.filter((e) => e.event === 'failed');
  }

  async function queueEvents(queue: string): Promise<Array<Record<string, string>>> {
    const entries = await redis!.xrange(`${queuePrefix}:${queue}:events`, '-', '+');
    return entries.map(([, fields]) => Object.fromEntries(Array.from({ length: fields.length / 2 }, (_, i) => [fields[2 * i]!, fields[2 * i + 1]!])));
  }

  async function storedObject(sha: string): Promise<Buffer> {
    const object = await s3Client!.send(new GetObjectCommand({ Bucket: s3!.bucket, Key: `blobs/sha256/${sha.slice(0, 2)}/${sha.slice(2, 4)}/${sha}` }));
    return Buffer.from(await object.Body!.transformToByteArray());
  }

  /** The sha256 of every file object in the bucket. */
  async function storedBlobs(): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3Client!.send(new ListObjectsV2Command({ Bucket: s3!.bucket, Prefix: 'blobs/', ContinuationToken: token }));
      keys.push(...(page.Contents ?? []).map((o) => o.Key!));
      token = page.NextContinuationToken;
    } while (token);
    return keys.map((k) => path.basename(k));
  }
});

/** Extractions waiting for the test's lock on the release table (one per extractor holding a job). */
async function blockedExtractions(databaseUrl: string): Promise<number> {
  const rows = await query<{ n: number }>(
    databaseUrl,
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query ILIKE '%release%'`,
  );
  return rows[0]!.n;
}

/** Runs node in the root namespace; resolves its exit code and output. */
function runNode(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}
