import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { UpstreamConfig } from '../../libs/config/index.js';
import { UpstreamClient } from '../../libs/http/index.js';
import { createLogger } from '../../libs/log/index.js';
import { createMetrics } from '../../libs/metrics/index.js';
import { errorHandler } from './http-errors.js';
import { requestContext, setRoute } from './request-context.js';
import { streamFromUpstream } from './stream-from-upstream.js';

const good = Buffer.alloc(300_000, 7);
const goodSha = createHash('sha256').update(good).digest('hex');
const big = Buffer.alloc(3_100_000, 9);
const bigSha = createHash('sha256').update(big).digest('hex');
/** ORCHARD_MAX_FILE_BYTES of the gateway under test: above `good`, below `big`. */
const LIMIT = 1_000_000;

/** Log lines written by the gateway under test, parsed. */
const logLines: Array<Record<string, unknown>> = [];
const logSink = new Writable({
  write(chunk: Buffer, _encoding, callback) {
    for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as Record<string, unknown>);
    callback();
  },
});

/** GETs `path` on a raw socket, reads exactly Content-Length body bytes (or all it gets), then closes at once. */
function readThenClose(port: number, path: string): Promise<{ status: number; bodyBytes: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`));
    let head = Buffer.alloc(0);
    let status = 0;
    let expected = Infinity;
    let bodyBytes = -1;
    socket.on('data', (data: Buffer) => {
      if (bodyBytes < 0) {
        head = Buffer.concat([head, data]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const text = head.subarray(0, end).toString();
        status = Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]);
        expected = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? Infinity);
        bodyBytes = head.length - end - 4;
      } else {
        bodyBytes += data.length;
      }
      if (bodyBytes >= expected) {
        socket.destroy();
        resolve({ status, bodyBytes });
      }
    });
    socket.on('close', () => resolve({ status, bodyBytes }));
    socket.on('error', reject);
  });
}

describe('streamFromUpstream', () => {
  const servers: http.Server[] = [];
  const client = new UpstreamClient({ connections: 4, connectTimeoutMs: 1000, readTimeoutMs: 2000, keepAliveMs: 1000, maxRedirects: 2 });
  const metrics = createMetrics('gateway');
  let gateway = '';

  async function listen(server: http.Server): Promise<string> {
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  beforeAll(async () => {
    const upstreamOrigin = await listen(
      http.createServer((req, res) => {
        if (req.url === '/good.whl') return void res.writeHead(200, { 'content-length': good.length }).end(good);
        if (req.url === '/tampered.whl') {
          const bad = Buffer.from(good);
          bad[bad.length - 1] = bad.at(-1)! ^ 0xff;
          return void res.writeHead(200, { 'content-length': bad.length }).end(bad);
        }
        if (req.url === '/gzipped.whl') return void res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync(good));
        if (req.url === '/big.whl') return void res.writeHead(200, { 'content-length': big.length }).end(big);
        if (req.url === '/big-chunked.whl') return void res.writeHead(200).end(big);
        if (req.url === '/endless.whl') {
          // Chunked, never ending: only the limit stops it.
          res.writeHead(200);
          const chunk = Buffer.alloc(64 * 1024, 1);
          const pump = () => {
            while (!res.destroyed && res.write(chunk));
            if (!res.destroyed) res.once('drain', pump);
          };
          return void pump();
        }
        if (req.url === '/broken.whl') {
          // Announces the whole file, sends a third, then closes the connection.
          res.writeHead(200, { 'content-length': good.length });
          res.write(good.subarray(0, 100_000));
          return void setTimeout(() => res.socket?.destroy(), 50);
        }
        res.writeHead(404).end();
      }),
    );
    const upstream: UpstreamConfig = { name: 'local', protocol: 'pypi', url: `${upstreamOrigin}/`, priority: 10, auth: { type: 'none' }, credentialOrigins: [] };
    const logger = createLogger('gateway', 'info', logSink);
    const app = express();
    const context = requestContext(logger, metrics);
    app.get('/:name', async (req, res) => {
      const name = String(req.params.name);
      setRoute(res, 'file');
      const source = { url: `${upstreamOrigin}/${name}`, upstream: 'local', filename: name };
      const sha256 = name.startsWith('big') ? bigSha : goodSha;
      await streamFromUpstream(req, res, client, req.query.removed ? undefined : upstream, source, sha256, metrics, LIMIT);
    });
    app.use(errorHandler(logger));
    gateway = await listen(http.createServer((req, res) => (context(req, res), app(req, res))));
  });

  afterAll(async () => {
    await client.close();
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('passes verified bytes through with only the headers Orchard vouches for', async () => {
    const res = await fetch(`${gateway}/good.whl`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-orchard-cache')).toBe('pass-through');
    expect(res.headers.get('etag')).toBe(`"${goodSha}"`);
    expect(res.headers.get('content-length')).toBe(String(good.length));
    expect(Buffer.from(await res.arrayBuffer()).equals(good)).toBe(true);
    const head = await fetch(`${gateway}/good.whl`, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(good.length));
  });

  it('cuts the response off when the bytes do not match the published sha256: the client never gets a complete wrong file', async () => {
    const before = (await metrics.hashMismatches.get()).values.reduce((n, v) => n + v.value, 0);
    const res = await fetch(`${gateway}/tampered.whl`);
    expect(res.status).toBe(200);
    await expect(res.arrayBuffer()).rejects.toThrow();
    const after = (await metrics.hashMismatches.get()).values.reduce((n, v) => n + v.value, 0);
    expect(after).toBe(before + 1);
  });

  it('refuses a content-encoded body, an upstream error status and a removed upstream with 502', async () => {
    for (const [path, reason] of [
      ['/gzipped.whl', /content-encoding gzip/],
      ['/missing.whl', /answered 404/],
      ['/good.whl?removed=1', /no longer configured/],
    ] as const) {
      const res = await fetch(`${gateway}${path}`);
      expect(res.status, path).toBe(502);
      expect(await res.text()).toMatch(reason);
    }
  });

  it('refuses a file whose Content-Length is over ORCHARD_MAX_FILE_BYTES, naming the limit', async () => {
    const res = await fetch(`${gateway}/big.whl`);
    expect(res.status).toBe(502);
    expect(await res.text()).toMatch(/big\.whl is larger than ORCHARD_MAX_FILE_BYTES \(1000000 bytes\)/);
  });

  it('cuts off a body without Content-Length (or an endless one) before more than the limit is sent', async () => {
    for (const path of ['/big-chunked.whl', '/endless.whl']) {
      const { status, bodyBytes } = await readThenClose(Number(new URL(gateway).port), path);
      expect(status, path).toBe(200);
      expect(bodyBytes, path).toBeLessThanOrEqual(LIMIT + 1024); // + chunk framing of the response
      expect(bodyBytes, path).toBeGreaterThan(0);
    }
  });

  it('logs an upstream closing mid-file as an upstream failure (warn), not an unhandled error', async () => {
    logLines.length = 0;
    const res = await fetch(`${gateway}/broken.whl`);
    expect(res.status).toBe(200);
    await expect(res.arrayBuffer()).rejects.toThrow();
    await vi.waitFor(() => expect(logLines.some((l) => l.msg === 'request' && l.path === '/broken.whl')).toBe(true));
    expect(logLines.filter((l) => l.msg === 'unhandled error')).toEqual([]);
    const failed = logLines.find((l) => l.msg === 'request failed');
    expect(failed).toMatchObject({ level: 40, status: 502 });
    expect(String(failed?.reason)).toMatch(/broken\.whl: the download from upstream local broke off/);
    // Counted as the gateway's failure, not as a client that went away.
    expect(logLines.find((l) => l.msg === 'request')).toMatchObject({ status: 502 });
  });

  it('counts a client that closes right after reading all Content-Length bytes as a 200 with its bytes served', async () => {
    const port = Number(new URL(gateway).port);
    const served = async () => (await metrics.bytesServed.get()).values.find((v) => v.labels.source === 'upstream')?.value ?? 0;
    logLines.length = 0;
    const before = await served();
    const rounds = 20;
    for (let i = 0; i < rounds; i++) {
      const { status, bodyBytes } = await readThenClose(port, '/good.whl');
      expect(status).toBe(200);
      expect(bodyBytes).toBe(good.length);
    }
    await vi.waitFor(() => expect(logLines.filter((l) => l.msg === 'request')).toHaveLength(rounds));
    expect(logLines.filter((l) => l.msg === 'request').map((l) => l.status)).toEqual(new Array(rounds).fill(200));
    // Bytes are counted when the pipeline settles, which may come after the request's log line.
    await vi.waitFor(async () => expect((await served()) - before).toBe(rounds * good.length));
  });
});
