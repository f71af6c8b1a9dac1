/**
 * Issue 15: eviction never cuts a download. Ten clients stream a large cached file slowly while the
 * storage job runs with the file over the quota and past its grace period: the streams renew it, so
 * it is not evicted, and every client receives the whole, verified file; once they are done, the
 * next run evicts it. On the fs store and on S3.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobKey, createBlobStore, type BlobStore } from '../../libs/storage/index.js';
import { waitFor } from '../api/http.js';
import { buildWheel } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { queryRows } from '../support/postgres.js';
import { startTestS3, s3ServiceEnv, type TestS3 } from '../support/s3.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { runGc } from './helpers.js';

const MB = 2 ** 20;
const CLIENTS = 10;
/** ORCHARD_EVICTION_GRACE_S: short, yet several of the gateway's renewals long under a busy test run. */
const GRACE_MS = 2_000;
/** More than a loopback connection buffers between the gateway and a client that reads slowly. */
const IN_FLIGHT_BYTES = 8 * MB;

/**
 * Downloads `url`, pausing after each MiB so the stream lasts a few seconds; resolves with the body's
 * sha256 and size. `onResponse` is told when the answer's headers arrived (the stream has started),
 * `onBytes` how many bytes have arrived so far.
 */
function slowDownload(
  url: string,
  pauseMsPerMiB: number,
  onResponse?: () => void,
  onBytes?: (received: number) => void,
): Promise<{ status: number; sha256: string; size: number }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        onResponse?.();
        const hash = createHash('sha256');
        let size = 0;
        let nextPause = MB;
        res.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          size += chunk.length;
          onBytes?.(size);
          if (size >= nextPause) {
            nextPause += MB;
            res.pause();
            setTimeout(() => res.resume(), pauseMsPerMiB);
          }
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, sha256: hash.digest('hex'), size }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

describe.each(['fs', 's3'] as const)('eviction while clients stream the file (%s store)', (kind) => {
  const upstream = new FakeUpstream();
  let s3: TestS3 | undefined;
  let orchard: OrchardProcesses;
  let store: BlobStore;
  let big: Awaited<ReturnType<typeof buildWheel>>;
  const evicted = async () =>
    (await queryRows<{ evicted: boolean }>(orchard.database.url, 'SELECT evicted_at IS NOT NULL AS evicted FROM artifact WHERE sha256 = $1', [big.sha256]))[0]?.evicted;

  beforeAll(async () => {
    big = await buildWheel({ name: 'big', version: '1.0', padBytes: 24 * MB });
    upstream.publish('big', { filename: big.filename, bytes: big.bytes });
    await upstream.start();
    if (kind === 's3') s3 = await startTestS3();
    orchard = await OrchardProcesses.start({
      upstreams: `local=${upstream.url}`,
      services: ['gateway', 'fetcher'],
      env: { ...(s3 ? s3ServiceEnv(s3) : {}), ORCHARD_STORAGE_QUOTA: '1MB', ORCHARD_EVICTION_GRACE_S: String(GRACE_MS / 1000), ORCHARD_STORAGE_GC_INTERVAL_S: '3600' },
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

  it('keeps the file while it streams, every client gets it whole, and evicts it once they are done', async () => {
    const url = `${orchard.gatewayUrl}/files/big/${big.sha256}/${big.filename}`;
    const first = await slowDownload(url, 0);
    expect(first).toEqual({ status: 200, sha256: big.sha256, size: big.bytes.length });
    await waitFor('the file recorded', async () => ((await evicted()) === false ? true : undefined));
    // Over the quota from now on, but within its grace period: the run its fetch started left it.
    await new Promise((r) => setTimeout(r, GRACE_MS + 500));

    const renewedAfter = new Date();
    let started = 0;
    const received = new Array<number>(CLIENTS).fill(0);
    // Slow enough (about 17 s per client) for several storage runs while the gateway still streams,
    // even when each run takes seconds on a loaded machine (one did, in a full test run).
    const streams = Array.from({ length: CLIENTS }, (_, i) =>
      slowDownload(
        url,
        700,
        () => started++,
        (bytes) => (received[i] = bytes),
      ),
    );
    // The gateway is still sending to every client while each has more left to read than socket
    // buffers hold (it stops renewing once its last bytes are buffered, seconds before a slow client
    // has read them).
    const gatewayStreaming = () => Math.min(...received) < big.bytes.length - IN_FLIGHT_BYTES;
    // The runs below must see the streams: every one started, and the gateway's renewal recorded.
    await waitFor('every stream started', async () => (started === CLIENTS ? true : undefined));
    await waitFor('the streams renewing the file', async () => {
      const [row] = await queryRows<{ renewed: boolean }>(orchard.database.url, 'SELECT last_served_at >= $2 AS renewed FROM artifact WHERE sha256 = $1', [
        big.sha256,
        renewedAfter,
      ]);
      return row?.renewed ? true : undefined;
    });
    let runsDuringStreams = 0;
    let streaming = true;
    const done = Promise.all(streams).finally(() => (streaming = false));
    // Besides these runs, the fetcher's own follow-up runs (usage stays over the quota) keep trying.
    while (streaming) {
      const gc = await runGc(orchard, ['--json']);
      expect(gc.code, gc.stderr).toBe(0);
      // A run that ended after the gateway's last bytes went out may already take the file (its runs
      // go on, so one is there to leave the follow-up that evicts the file after the streams).
      if (!streaming) break;
      if (!gatewayStreaming()) continue;
      runsDuringStreams++;
      expect(JSON.parse(gc.stdout)).toMatchObject({ eviction: { evictedFiles: 0 } });
      expect(await evicted()).toBe(false);
    }
    const results = await done;
    // Several runs saw the file over the quota, past its grace, and streaming.
    expect(runsDuringStreams).toBeGreaterThanOrEqual(2);
    for (const result of results) expect(result).toEqual({ status: 200, sha256: big.sha256, size: big.bytes.length });

    // The streams are over: once their last renewal is past the grace period, a follow-up run takes
    // the file by itself (nothing else asks it to).
    await waitFor('the file evicted after its streams', async () => ((await evicted()) ? true : undefined), 3 * GRACE_MS + 5_000);
    expect(await store.stat(blobKey(big.sha256))).toBeNull();
  }, 120_000);
});
