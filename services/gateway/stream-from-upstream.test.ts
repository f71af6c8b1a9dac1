import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UpstreamConfig } from '../../libs/config/index.js';
import { UpstreamClient } from '../../libs/http/index.js';
import { createLogger } from '../../libs/log/index.js';
import { createMetrics } from '../../libs/metrics/index.js';
import { errorHandler } from './http-errors.js';
import { streamFromUpstream } from './stream-from-upstream.js';

const good = Buffer.alloc(300_000, 7);
const goodSha = createHash('sha256').update(good).digest('hex');

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
        res.writeHead(404).end();
      }),
    );
    const upstream: UpstreamConfig = { name: 'local', protocol: 'pypi', url: `${upstreamOrigin}/`, priority: 10, auth: { type: 'none' }, credentialOrigins: [] };
    const app = express();
    app.get('/:name', async (req, res) => {
      const name = String(req.params.name);
      const source = { url: `${upstreamOrigin}/${name}`, upstream: 'local', filename: name };
      await streamFromUpstream(req, res, client, req.query.removed ? undefined : upstream, source, goodSha, metrics);
    });
    app.use(errorHandler(createLogger('gateway', 'silent')));
    gateway = await listen(http.createServer(app));
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
});
