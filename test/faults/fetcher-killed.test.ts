/**
 * A fetcher killed with SIGKILL in the middle of a download (a slow upstream body): no partial object
 * becomes visible, a restarted fetcher picks the job up again (stalled-job recovery), and the
 * waiting request and the next one get the right bytes.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel, type BuiltDist } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { artifactRows, getBytes, listFiles, sleep, storedBlobs, waitFor } from './support/helpers.js';

describe('fetcher killed mid-download', () => {
  const upstream = new FakeUpstream();
  let orchard: OrchardProcesses;
  let wheel: BuiltDist;

  beforeAll(async () => {
    wheel = await buildWheel({ name: 'slow-big', version: '1.0.0', padBytes: 2 * 1024 * 1024 });
    upstream.publish('slow-big', { filename: wheel.filename, bytes: wheel.bytes });
    // About 5 s per download: 64 KiB every 150 ms.
    upstream.fileFaults.set(wheel.filename, { kind: 'slow', chunkBytes: 64 * 1024, intervalMs: 150 });
    await upstream.start();
    orchard = await OrchardProcesses.start({
      upstreams: `local=${upstream.url}`,
      services: ['gateway', 'fetcher'],
      env: {
        // Requests wait for the job (no fallback to streaming from upstream in this test).
        ORCHARD_FETCH_WAIT_MS: '60000',
        // A dead worker's job is handed out again after ~2 s (lock) + one check interval.
        ORCHARD_JOB_STALLED_MS: '1000',
      },
    });
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    await orchard?.stop();
    await upstream.stop();
  });

  it('recovers the job after SIGKILL; no partial object is ever visible; both requests get the right file', async () => {
    const url = `${orchard.gatewayUrl}/files/slow-big/${wheel.sha256}/${wheel.filename}`;
    // The page first (it teaches the gateway the file), then the file request that waits on the job.
    expect((await fetch(`${orchard.gatewayUrl}/simple/slow-big/`)).status).toBe(200);
    const waiting = getBytes(url, 90_000);

    await waitFor('the download to start', () => (upstream.fileRequests().length === 1 ? true : undefined), 20_000, 50);
    await waitFor('a partial temporary file', async () => ((await listFiles(path.join(orchard.dataDir, '.tmp'))).length > 0 ? true : undefined), 10_000, 50);
    await sleep(700);
    expect(await storedBlobs(orchard.dataDir)).toEqual([]);

    expect(await orchard.stopService('fetcher', 'SIGKILL')).toBeNull();
    // Killed mid-body: whatever was half-written stays under .tmp/, never under its key.
    expect(await storedBlobs(orchard.dataDir)).toEqual([]);
    expect(await artifactRows(orchard.database.url, wheel.sha256)).toHaveLength(0);

    const restartedAt = Date.now();
    await orchard.startService('fetcher');
    const first = await waiting;
    expect(first.status).toBe(200);
    expect(createHash('sha256').update(first.bytes).digest('hex')).toBe(wheel.sha256);
    expect(Date.now() - restartedAt).toBeLessThan(30_000);
    expect(upstream.fileRequests()).toHaveLength(2);

    // The first answer may come from the fetcher's verified download a moment before the store has it.
    const next = await waitFor('an answer from storage', async () => {
      const answer = await getBytes(url);
      return answer.headers.get('x-orchard-cache') === null ? answer : undefined;
    });
    expect(next.status).toBe(200);
    expect(createHash('sha256').update(next.bytes).digest('hex')).toBe(wheel.sha256);
    expect(await storedBlobs(orchard.dataDir)).toEqual([wheel.sha256]);
    // Clients are served once the file is stored; its row follows when the job records it.
    const row = { sha256: wheel.sha256, size: wheel.bytes.length, filename: wheel.filename };
    await waitFor('the artifact row', async () => ((await artifactRows(orchard.database.url, wheel.sha256)).length > 0 ? true : undefined));
    expect(await artifactRows(orchard.database.url, wheel.sha256)).toEqual([row]);
    expect(upstream.fileRequests()).toHaveLength(2);
  });
});
