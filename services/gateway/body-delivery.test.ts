import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../libs/log/index.js';
import { createMetrics } from '../../libs/metrics/index.js';
import { blobKey, createBlobStore, type BlobStore, sha256Digest } from '../../libs/storage/index.js';
import { errorHandler } from './http-errors.js';
import { requestContext, setRoute } from './request-context.js';
import { sendStoredFile } from './send-file.js';

/** Requests `path` on a raw socket, reads `readBytes` body bytes (all of them by default), then destroys the socket at once. */
function readThenClose(port: number, requestPath: string, readBytes?: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`GET ${requestPath} HTTP/1.1\r\nHost: x\r\n\r\n`));
    let head = Buffer.alloc(0);
    let wanted = Infinity;
    let body = -1;
    socket.on('data', (data: Buffer) => {
      if (body < 0) {
        head = Buffer.concat([head, data]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        wanted = readBytes ?? Number(/content-length: (\d+)/i.exec(head.subarray(0, end).toString())?.[1]);
        body = head.length - end - 4;
      } else {
        body += data.length;
      }
      if (body >= wanted) {
        socket.destroy();
        resolve(body);
      }
    });
    socket.on('error', reject);
  });
}

describe('access log and metrics for clients that close at once', () => {
  const file = Buffer.alloc(3_000_000, 5);
  const sha256 = createHash('sha256').update(file).digest('hex');
  const metrics = createMetrics('gateway');
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  let dir = '';
  let store: BlobStore;
  let server: http.Server;
  let port = 0;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'orchard-delivery-'));
    store = createBlobStore({ kind: 'fs', root: dir });
    await store.put(blobKey(sha256), Readable.from([file]), { expected: sha256Digest(sha256) });
    const logger = createLogger('gateway', 'info', sink);
    const app = express();
    const context = requestContext(logger, metrics);
    app.get('/file', async (req, res) => {
      setRoute(res, 'file');
      await sendStoredFile(req, res, store, metrics, { key: blobKey(sha256), sha256, filename: 'f.whl', contentType: 'application/octet-stream' });
    });
    app.use(errorHandler(logger));
    server = http.createServer((req, res) => (context(req, res), app(req, res)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const requests = () => lines.filter((l) => l.msg === 'request');
  const served = async () => (await metrics.bytesServed.get()).values.find((v) => v.labels.source === 'storage')?.value ?? 0;
  const counted = async (status: string) => (await metrics.httpRequests.get()).values.find((v) => v.labels.status === status)?.value ?? 0;

  it('counts a response whose whole body went out as its real status, with its bytes, even when the client closes right away', async () => {
    lines.length = 0;
    const before = { bytes: await served(), ok: await counted('200'), gone: await counted('499') };
    const rounds = 30;
    for (let i = 0; i < rounds; i++) expect(await readThenClose(port, '/file')).toBe(file.length);
    await vi.waitFor(() => expect(requests()).toHaveLength(rounds));
    expect(requests().map((l) => l.status)).toEqual(new Array(rounds).fill(200));
    expect((await counted('200')) - before.ok).toBe(rounds);
    expect((await counted('499')) - before.gone).toBe(0);
    await vi.waitFor(async () => expect((await served()) - before.bytes).toBe(rounds * file.length));
  });

  it('still counts 499, and no bytes, for a client that leaves before the body is complete', async () => {
    lines.length = 0;
    const before = await served();
    await readThenClose(port, '/file', 100_000);
    await vi.waitFor(() => expect(requests()).toHaveLength(1));
    expect(requests()[0]).toMatchObject({ status: 499 });
    expect(await served()).toBe(before);
  });
});
