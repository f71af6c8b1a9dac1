/**
 * Issue 15: a storage quota, on the fs store and on S3. The real services with a quota of a few hundred KB: files past it are
 * evicted least recently served first by the fetcher's storage job, come back transparently on the
 * next request (pip included), keep their metadata files, answer a 503 naming the eviction when
 * the upstream is down; pins keep files; the admin API, metrics and `npm run gc` show it all.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobKey, createBlobStore, type BlobStore } from '../../libs/storage/index.js';
import { request, waitFor } from '../api/http.js';
import { buildWheel } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { queryRows } from '../support/postgres.js';
import { runPip } from '../support/pip.js';
import { startTestS3, s3ServiceEnv, testS3Client, type TestS3 } from '../support/s3.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { ADMIN_TOKEN, admin, runGc, type StorageReportBody } from './helpers.js';

type Wheel = Awaited<ReturnType<typeof buildWheel>>;
const KB = 1000;

describe.each(['fs', 's3'] as const)('a storage quota (%s store)', (kind) => {
  const upstream = new FakeUpstream();
  let orchard: OrchardProcesses;
  let s3: TestS3 | undefined;
  let store: BlobStore;
  const wheels: Record<string, Wheel> = {};
  const fileUrl = (name: string) => `${orchard.gatewayUrl}/files/${name}/${wheels[name]!.sha256}/${wheels[name]!.filename}`;
  const downloads = (name: string) => upstream.fileRequests().filter((r) => r.path === `/files/${wheels[name]!.filename}`).length;
  const stored = async (name: string) => (await store.stat(blobKey(wheels[name]!.sha256))) !== null;
  const evicted = async (name: string) =>
    (await queryRows<{ evicted: boolean }>(orchard.database.url, 'SELECT evicted_at IS NOT NULL AS evicted FROM artifact WHERE sha256 = $1', [wheels[name]!.sha256]))[0]?.evicted;
  const report = async () => (await admin<StorageReportBody>(orchard, '/storage')).body;

  async function get(name: string): Promise<void> {
    const res = await request(fileUrl(name));
    expect(res.status).toBe(200);
    expect(res.body.equals(wheels[name]!.bytes)).toBe(true);
  }

  /** Fetches a file and waits until the fetcher recorded it (it is then a candidate once the grace ends). */
  async function fetchAndRecord(name: string): Promise<void> {
    await get(name);
    await waitFor(`${name} recorded`, async () => ((await evicted(name)) === false ? true : undefined));
  }

  const graceEnds = () => new Promise((r) => setTimeout(r, 1_300));

  beforeAll(async () => {
    for (const name of ['alpha', 'bravo', 'charlie', 'delta', 'pinned', 'echo']) {
      wheels[name] = await buildWheel({ name, version: '1.0', padBytes: 120 * KB });
      upstream.publish(name, { filename: wheels[name]!.filename, bytes: wheels[name]!.bytes, metadata: wheels[name]!.metadata });
    }
    await upstream.start();
    if (kind === 's3') s3 = await startTestS3();
    orchard = await OrchardProcesses.start({
      upstreams: `local=${upstream.url}`,
      env: {
        ...(s3 ? s3ServiceEnv(s3) : {}),
        // Three of the ~121 KB wheels fit; a fourth goes past the quota; eviction stops at 90 % (405 KB): one goes.
        ORCHARD_STORAGE_QUOTA: '450KB',
        ORCHARD_EVICTION_GRACE_S: '1',
        ORCHARD_STORAGE_GC_INTERVAL_S: '3600',
        ORCHARD_ORPHAN_AGE_S: '60',
        ORCHARD_FETCH_WAIT_MS: '1500',
        ORCHARD_ADMIN_TOKEN: ADMIN_TOKEN,
      },
    });
    store = createBlobStore(s3 ? { kind: 's3', ...s3 } : { kind: 'fs', root: orchard.dataDir });
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) console.log(orchard?.allLogs());
    await store?.close();
    await orchard?.stop();
    await upstream.stop();
    await s3?.stop();
  });

  it('evicts the least recently served file once a fetch goes past the quota, and keeps usage under it', async () => {
    for (const name of ['alpha', 'bravo', 'charlie']) await fetchAndRecord(name);
    await graceEnds();
    // alpha is served again (from the gateway's memo): bravo is now the least recently served.
    await get('alpha');
    await graceEnds();
    await fetchAndRecord('delta');
    await waitFor('bravo evicted', async () => ((await evicted('bravo')) ? true : undefined));
    expect(await stored('bravo')).toBe(false);
    for (const name of ['alpha', 'charlie', 'delta']) expect(await stored(name)).toBe(true);
    const storage = await report();
    expect(storage.quota).toMatchObject({ bytes: 450 * KB, lowWaterBytes: 405 * KB });
    expect(storage.usage.files).toBe(3);
    expect(storage.usage.bytes).toBe(['alpha', 'charlie', 'delta'].reduce((sum, n) => sum + wheels[n]!.bytes.length, 0));
    expect(storage.usage.bytes).toBeLessThanOrEqual(450 * KB);
    expect(storage.evictedFiles).toBe(1);
    expect(storage.tracking).toBe(true);
    // The fetcher's metrics count it.
    const metrics = await (await fetch(`http://127.0.0.1:${orchard.ports.fetcher}/metrics`)).text();
    const lines = metrics.split('\n');
    expect(lines).toContain('orchard_evictions_total{reason="quota",service="fetcher"} 1');
    expect(lines).toContain(`orchard_storage_bytes{service="fetcher"} ${storage.usage.bytes}`);
    expect(lines).toContain('orchard_storage_quota_bytes{service="fetcher"} 450000');
  });

  it("keeps an evicted file's metadata file, served without the upstream", async () => {
    const before = upstream.requests.length;
    const res = await request(`${fileUrl('bravo')}.metadata`);
    expect(res.status).toBe(200);
    expect(res.body.equals(wheels.bravo!.metadata)).toBe(true);
    expect(upstream.requests.length).toBe(before);
  });

  it('fetches an evicted file again, once, for the pip install that needs it', async () => {
    expect(downloads('bravo')).toBe(1);
    const target = await mkdtemp(path.join(os.tmpdir(), 'orchard-quota-pip-'));
    try {
      const result = await runPip(['install', '--index-url', `${orchard.gatewayUrl}/simple/`, '--target', target, 'bravo']);
      expect(result.code, result.stderr).toBe(0);
      expect(existsSync(path.join(target, 'bravo'))).toBe(true);
    } finally {
      await rm(target, { recursive: true, force: true });
    }
    expect(downloads('bravo')).toBe(2);
    await waitFor('bravo stored again', async () => ((await evicted('bravo')) === false ? true : undefined));
    expect(await stored('bravo')).toBe(true);
    const storage = await report();
    // Downloads: four first fetches and bravo's again; served from storage or memo: alpha's second request.
    expect(storage.fetched).toBe(5);
    expect(storage.served).toBe(1);
    expect(storage.hitRatio).toBeCloseTo(1 / 6);
  });

  it('answers 503 naming the eviction for an evicted file the upstream cannot give again', async () => {
    // bravo's re-fetch pushed usage over the quota: the least recently used went (charlie, never
    // served since its fetch; alpha was served after it).
    await waitFor('charlie evicted', async () => ((await evicted('charlie')) ? true : undefined));
    expect(await evicted('alpha')).toBe(false);
    upstream.mode = 'fail';
    try {
      const res = await request(fileUrl('charlie'));
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('30');
      expect(res.body.toString()).toMatch(/charlie-1\.0-py3-none-any\.whl was evicted from the cache \(storage quota\) and cannot be fetched again right now/);
    } finally {
      upstream.mode = 'ok';
    }
    await get('charlie');
  });

  it('never evicts a pinned project, pinned through the admin API', async () => {
    expect((await admin(orchard, '/pins/Pinned', 'PUT')).status).toBe(201);
    expect((await admin(orchard, '/pins/pinned', 'PUT')).status).toBe(200);
    expect((await admin(orchard, '/pins/pinned/bad version!', 'PUT')).status).toBe(400);
    expect((await admin(orchard, '/pins')).body).toEqual({ pins: [{ protocol: 'pypi', project: 'pinned', version: null, createdAt: expect.any(String) }] });
    await fetchAndRecord('pinned');
    await graceEnds();
    // Everything else is served after it: only the pin keeps it.
    for (const name of ['alpha', 'bravo', 'charlie', 'delta']) await get(name);
    await graceEnds();
    const gc = await runGc(orchard);
    expect(gc.code, gc.stderr).toBe(0);
    expect(gc.stdout).toMatch(/^evicted \d+ files/m);
    expect(await evicted('pinned')).toBe(false);
    expect(await stored('pinned')).toBe(true);
    expect((await report()).usage.bytes).toBeLessThanOrEqual(450 * KB);
    expect((await admin(orchard, '/pins/pinned', 'DELETE')).status).toBe(204);
    expect((await admin(orchard, '/pins/pinned', 'DELETE')).status).toBe(404);
  });

  it('lists what a smaller quota would take with `npm run gc -- --dry-run`, changing nothing', async () => {
    await fetchAndRecord('echo');
    await graceEnds();
    const before = await report();
    expect(before.usage.files).toBeGreaterThanOrEqual(3);
    // An operator asks what 250 KB (low water 225 KB: one ~121 KB wheel) would leave.
    const smaller = { ORCHARD_STORAGE_QUOTA: '250KB' };
    const dry = await runGc(orchard, ['--dry-run'], smaller);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`^would evict ${before.usage.files - 1} files`, 'm'));
    const listed = dry.stdout.split('\n').filter((line) => line.startsWith('  '));
    expect(listed).toHaveLength(before.usage.files - 1);
    for (const line of listed) expect(line).toMatch(/^ {2}quota +[\d.]+ MiB {2}last used \S+Z {2}pypi\/[a-z]+ {2}[a-z]+-1\.0-py3-none-any\.whl$/);
    const json = await runGc(orchard, ['--dry-run', '--json'], smaller);
    const plan = JSON.parse(json.stdout) as { dryRun: boolean; usageBefore: unknown; evicted: Array<{ filename: string; lastUsedAt: string }> };
    expect(plan).toMatchObject({ dryRun: true, quota: { bytes: 250 * KB }, usageBefore: before.usage });
    // Least recently used first; the most recently fetched (echo) is the one left.
    const lastUsed = plan.evicted.map((f) => Date.parse(f.lastUsedAt));
    expect(lastUsed).toEqual([...lastUsed].sort((a, b) => a - b));
    expect(plan.evicted.map((f) => f.filename)).not.toContain(wheels.echo!.filename);
    expect((await report()).usage).toEqual(before.usage);
    expect(await stored('echo')).toBe(true);
  });

  if (kind === 'fs') {
    it('removes a temporary file a killed fetcher left, once older than ORCHARD_ORPHAN_AGE_S', async () => {
      const tmp = path.join(orchard.dataDir, '.tmp');
      await mkdir(tmp, { recursive: true });
      const orphan = path.join(tmp, 'killed-fetch');
      await writeFile(orphan, Buffer.alloc(5000));
      const old = new Date(Date.now() - 120_000);
      await utimes(orphan, old, old);
      const gc = await runGc(orchard, ['--json']);
      expect(gc.code, gc.stderr).toBe(0);
      expect(JSON.parse(gc.stdout)).toMatchObject({ trigger: 'manual', orphans: { removed: 1, bytes: 5000 } });
      expect(existsSync(orphan)).toBe(false);
    });
  } else {
    // Aborting an old one is tested on the store (libs/storage/s3-blob-store.test.ts): the age is at least a minute here.
    it('leaves a multipart upload younger than ORCHARD_ORPHAN_AGE_S alone (a write in progress)', async () => {
      const client = testS3Client(s3!);
      try {
        await client.send(new CreateMultipartUploadCommand({ Bucket: s3!.bucket, Key: blobKey('b'.repeat(64)) }));
        expect(await s3!.pendingMultipartUploads()).toBe(1);
        const gc = await runGc(orchard, ['--json']);
        expect(gc.code, gc.stderr).toBe(0);
        expect(JSON.parse(gc.stdout)).toMatchObject({ trigger: 'manual', orphans: { removed: 0 } });
        expect(await s3!.pendingMultipartUploads()).toBe(1);
      } finally {
        client.destroy();
      }
    });
  }

  it('runs the storage job on a schedule, one run at a time across every fetcher', async () => {
    const connection = new Redis(orchard.env.REDIS_URL!, { maxRetriesPerRequest: null });
    const queue = new Queue('storage', { connection, prefix: orchard.env.ORCHARD_QUEUE_PREFIX });
    try {
      expect(await queue.getGlobalConcurrency()).toBe(1);
      const schedulers = await queue.getJobSchedulers();
      expect(schedulers).toEqual([expect.objectContaining({ key: 'storage', every: 3_600_000 })]);
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });

  it('refuses the storage admin API without the token', async () => {
    const res = await fetch(`${orchard.gatewayUrl}/api/v1/admin/storage`);
    expect(res.status).toBe(401);
  });
});
