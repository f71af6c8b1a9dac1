import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../libs/log/index.js';
import type { FetchStreaming } from '../../libs/queue/index.js';
import { InflightDownloads } from './inflight-downloads.js';

const JOB = `${'a'.repeat(64)}-${'b'.repeat(16)}`;

describe('InflightDownloads', () => {
  let dir: string;
  let server: http.Server;
  let inflight: InflightDownloads;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'orchard-spool-test-'));
    server = http.createServer((req, res) => {
      if (!inflight.handle(req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    inflight = new InflightDownloads({ dir, baseUrl: `http://127.0.0.1:${port}`, logger: createLogger('fetcher', 'silent') });
  });

  afterEach(async () => {
    await inflight.close();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts a download fed by hand; resolves the announced URL once its first bytes are spooled. */
  function start(size?: number) {
    const announced: FetchStreaming[] = [];
    let onAnnounce: (url: string) => void = () => {};
    const url = new Promise<string>((resolve) => (onAnnounce = resolve));
    const { tee, verified, settle } = inflight.begin(JOB, size, (stream) => {
      announced.push(stream);
      onAnnounce(stream.streaming);
    });
    const upstream = new PassThrough();
    const passed: Buffer[] = [];
    upstream.pipe(tee).on('data', (chunk: Buffer) => passed.push(chunk));
    return { upstream, verified, settle, url, announced, passed };
  }

  function read(url: string): Promise<{ status: number; body: Buffer; complete: boolean }> {
    return new Promise((resolve, reject) => {
      http
        .get(url, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), complete: true }));
          res.on('error', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), complete: false }));
          res.on('aborted', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), complete: false }));
        })
        .on('error', reject);
    });
  }

  it('serves readers from any offset as the bytes arrive, late joiners included, and ends them once stored', async () => {
    const d = start(9);
    d.upstream.write(Buffer.from('abc'));
    const url = await d.url;
    const early = read(url);
    d.upstream.write(Buffer.from('def'));
    await new Promise((r) => setTimeout(r, 50));
    const late = read(url);
    const fromOffset = read(`${url}?offset=4`);
    d.upstream.end(Buffer.from('ghi'));
    await new Promise((r) => setTimeout(r, 50));
    d.settle(true);
    for (const [reader, expected] of [
      [early, 'abcdefghi'],
      [late, 'abcdefghi'],
      [fromOffset, 'efghi'],
    ] as const) {
      const got = await reader;
      expect(got.status).toBe(200);
      expect(got.complete).toBe(true);
      expect(got.body.toString()).toBe(expected);
    }
    expect(Buffer.concat(d.passed).toString()).toBe('abcdefghi');
    expect(d.announced).toEqual([{ streaming: url, size: 9 }]);
  });

  it('once the hash matched, announces the download as verified and ends its readers whole before the store is done', async () => {
    const d = start();
    d.upstream.write(Buffer.from('abc'));
    const url = await d.url;
    const reader = read(url);
    d.upstream.end(Buffer.from('def'));
    await new Promise((r) => setTimeout(r, 50));
    d.verified(6);
    const got = await reader;
    expect(got).toMatchObject({ status: 200, complete: true });
    expect(got.body.toString()).toBe('abcdef');
    expect(d.announced).toEqual([{ streaming: url }, { streaming: url, size: 6, verified: true }]);
    // A reader joining now gets the whole file too; the store's outcome, reported later, announces nothing.
    expect((await read(url)).body.toString()).toBe('abcdef');
    d.settle(true);
    expect(d.announced).toHaveLength(2);
  });

  it('cuts its readers when the download fails, and answers 404 for another attempt or a finished failure', async () => {
    const d = start();
    d.upstream.write(Buffer.from('abc'));
    const url = await d.url;
    const reader = read(url);
    await new Promise((r) => setTimeout(r, 50));
    d.settle(false);
    const got = await reader;
    expect(got.complete).toBe(false);
    expect(got.body.toString()).toBe('abc');
    expect((await read(url)).status).toBe(404);
    expect((await read(url.replace(/[0-9a-f]{16}$/, '0'.repeat(16)))).status).toBe(404);
  });

  it('never announces a download that failed before its first byte, and leaves no spool file', async () => {
    const d = start();
    d.settle(false);
    await new Promise((r) => setTimeout(r, 50));
    expect(d.announced).toEqual([]);
    await inflight.close();
    expect(await readdir(dir)).toEqual([]);
  });
});
