import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel } from '../support/dists.js';
import { OrchardProcesses, type ServiceName } from '../support/orchard.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { logLines, waitFor } from './helpers.js';

interface Wheel {
  filename: string;
  bytes: Buffer;
  sha256: string;
}

/** SIGTERM during a download: the job finishes, or goes back to its queue; it is never lost. */
describe('graceful shutdown on SIGTERM', () => {
  const upstream = new FakeUpstream();
  let orchard: OrchardProcesses;
  let redis: Redis;
  let fetchQueue: Queue;

  const blobPath = (sha256: string) => path.join(orchard.dataDir, 'blobs', 'sha256', sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  const fileUrl = (project: string, wheel: Wheel) => `${orchard.gatewayUrl}/files/${project}/${wheel.sha256}/${wheel.filename}`;

  async function publish(project: string, padBytes: number): Promise<Wheel> {
    const wheel = await buildWheel({ name: project, version: '1.0.0', padBytes });
    upstream.publish(project, { filename: wheel.filename, bytes: wheel.bytes });
    // Cache the page first, so only the file download is slow.
    expect((await fetch(`${orchard.gatewayUrl}/simple/${project}/`)).status).toBe(200);
    return wheel;
  }

  /** Starts a client download through the gateway and waits until the fetcher is receiving the file. */
  async function downloadInProgress(project: string, wheel: Wheel): Promise<{ response: Promise<Response> }> {
    const response = fetch(fileUrl(project, wheel));
    response.catch(() => {});
    await waitFor('the fetcher downloading', async () => (upstream.fileRequests().some((r) => r.path.endsWith(wheel.filename)) ? true : undefined));
    // Wrapped: an async function returning the promise itself would wait for the whole response.
    return { response };
  }

  async function sigterm(service: ServiceName): Promise<{ code: number | null; ms: number }> {
    const started = Date.now();
    const code = await orchard.stopService(service, 'SIGTERM');
    return { code, ms: Date.now() - started };
  }

  async function sha256Of(response: Response): Promise<string> {
    return createHash('sha256')
      .update(Buffer.from(await response.arrayBuffer()))
      .digest('hex');
  }

  beforeAll(async () => {
    upstream.format = 'html';
    await upstream.start();
    // The gateway waits long enough for a fetch job to outlive a fetcher restart.
    orchard = await OrchardProcesses.start({ upstreams: `local=${upstream.url}`, env: { ORCHARD_FETCH_WAIT_MS: '60000' } });
    redis = new Redis(orchard.env.REDIS_URL!, { maxRetriesPerRequest: null });
    fetchQueue = new Queue('fetch', { connection: redis, prefix: orchard.env.ORCHARD_QUEUE_PREFIX! });
  });

  /** The id of the fetch job of the (one) listing of this file. */
  const jobIdOf = async (sha256: string): Promise<string> =>
    waitFor('the fetch job', async () => (await fetchQueue.getJobs(['active', 'waiting', 'completed', 'failed', 'delayed'])).find((j) => j.data.sha256 === sha256)?.id);

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    await fetchQueue?.close();
    redis?.disconnect();
    await orchard?.stop();
    await upstream.stop();
  });

  it('lets a download in progress finish, then exits 0; the waiting client gets the file', async () => {
    const wheel = await publish('slow-finish', 1_000_000);
    // About 2 s of body: well inside the grace period of ORCHARD_SHUTDOWN_TIMEOUT_MS=10000.
    upstream.fileFaults.set(wheel.filename, { kind: 'slow', chunkBytes: 100_000, intervalMs: 200 });
    const { response } = await downloadInProgress('slow-finish', wheel);

    const { code, ms } = await sigterm('fetcher');
    expect(code).toBe(0);
    expect(ms).toBeGreaterThan(1_000); // it waited for the download
    expect(ms).toBeLessThan(10_000);

    expect((await fetchQueue.getJob(await jobIdOf(wheel.sha256)))?.finishedOn).toBeDefined();
    expect(await fetchQueue.getJobState(await jobIdOf(wheel.sha256))).toBe('completed');
    expect(
      createHash('sha256')
        .update(await readFile(blobPath(wheel.sha256)))
        .digest('hex'),
    ).toBe(wheel.sha256);
    const answer = await response;
    expect(answer.status).toBe(200);
    expect(await sha256Of(answer)).toBe(wheel.sha256);

    const records = logLines(orchard.logs.fetcher);
    const lines = records.map((l) => l.msg);
    expect(lines.indexOf('file fetched and verified')).toBeGreaterThan(lines.indexOf('shutting down'));
    expect(lines.indexOf('shut down cleanly')).toBeGreaterThan(lines.indexOf('file fetched and verified'));
    // Lines written by a job carry its queue and id.
    expect(records.find((l) => l.msg === 'file fetched and verified')).toMatchObject({ queue: 'fetch', jobId: await jobIdOf(wheel.sha256) });
  });

  it('hands a download that outlasts the grace period back to the queue, exits 0, and a restarted fetcher completes it', async () => {
    orchard.env.ORCHARD_SHUTDOWN_TIMEOUT_MS = '3000'; // grace ≈ 1.8 s
    orchard.logs.fetcher = '';
    await orchard.startService('fetcher');
    const wheel = await publish('slow-handback', 1_000_000);
    // About 25 s of body: far longer than the grace period.
    upstream.fileFaults.set(wheel.filename, { kind: 'slow', chunkBytes: 20_000, intervalMs: 500 });
    const { response } = await downloadInProgress('slow-handback', wheel);
    await waitFor('the job active', async () => ((await fetchQueue.getJobState(await jobIdOf(wheel.sha256))) === 'active' ? true : undefined));

    const { code, ms } = await sigterm('fetcher');
    expect(code).toBe(0);
    expect(ms).toBeLessThan(6_000); // not the 25 s default, nor a lock expiry

    // Back in the queue, the attempt not counted, nothing half-written left in storage.
    const handedBack = await jobIdOf(wheel.sha256);
    const job = await fetchQueue.getJob(handedBack);
    expect(await job!.getState()).toBe('waiting');
    expect(job!.attemptsMade).toBe(0);
    expect(job!.failedReason ?? '').toBe('');
    await expect(stat(blobPath(wheel.sha256))).rejects.toThrow(/ENOENT/);
    expect(await readdir(path.join(orchard.dataDir, '.tmp')).catch(() => [])).toEqual([]);
    expect(logLines(orchard.logs.fetcher).some((l) => l.msg === 'job handed back to its queue' && l.jobId === handedBack)).toBe(true);

    // The upstream recovers; a fetcher started again takes the job at once.
    upstream.fileFaults.delete(wheel.filename);
    orchard.env.ORCHARD_SHUTDOWN_TIMEOUT_MS = '10000';
    await orchard.startService('fetcher');
    const answer = await response;
    expect(answer.status).toBe(200);
    expect(await sha256Of(answer)).toBe(wheel.sha256);
    // The client is served once the file is stored; the job completes after recording it.
    await waitFor('the job completed', async () => ((await fetchQueue.getJobState(await jobIdOf(wheel.sha256))) === 'completed' ? true : undefined));
    expect(
      createHash('sha256')
        .update(await readFile(blobPath(wheel.sha256)))
        .digest('hex'),
    ).toBe(wheel.sha256);
    // Served correctly from the cache too.
    const again = await fetch(fileUrl('slow-handback', wheel));
    expect(await sha256Of(again)).toBe(wheel.sha256);
  });

  it.each(['extractor', 'gateway', 'fetcher'] as const)('%s exits 0 promptly on SIGTERM when idle', async (service) => {
    const { code, ms } = await sigterm(service);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(5_000);
    const lines = logLines(orchard.logs[service]);
    expect(lines.at(-1)).toMatchObject({ msg: 'shut down cleanly', service });
  });
});
