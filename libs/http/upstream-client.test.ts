import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { UpstreamConfig } from '../config/index.js';
import { UpstreamError } from './errors.js';
import { UpstreamClient } from './upstream-client.js';

interface Seen {
  path: string;
  authorization?: string;
}

/** A loopback server that records requests and answers by a routing function. */
async function server(route: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const seen: Seen[] = [];
  const s = http.createServer((req, res) => {
    seen.push({ path: req.url ?? '', authorization: req.headers.authorization });
    route(req, res);
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  return {
    seen,
    origin,
    close: () => {
      s.closeAllConnections();
      return new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
}

const SECRET = 's3cr3t-Pa55word';
const TOKEN = 'tok-0123456789abcdef';

describe('UpstreamClient: credentials per origin, redirects, failures', () => {
  let fileHost: Awaited<ReturnType<typeof server>>;
  let index: Awaited<ReturnType<typeof server>>;
  // The file host is another origin on loopback: exempt it, as a private deployment would.
  const client = new UpstreamClient({ connections: 4, connectTimeoutMs: 1000, readTimeoutMs: 500, keepAliveMs: 1000, maxRedirects: 3, allowedHosts: ['127.0.0.1'] });

  beforeAll(async () => {
    fileHost = await server((_req, res) => res.end('file bytes'));
    index = await server((req, res) => {
      const url = req.url ?? '';
      if (url === '/simple/to-file-host/') return void res.writeHead(302, { location: `${fileHost.origin}/f.whl` }).end();
      if (url === '/simple/same-origin/') return void res.writeHead(301, { location: '/simple/target/' }).end();
      if (url === '/simple/loop/') return void res.writeHead(302, { location: '/simple/loop/' }).end();
      if (url === '/simple/ftp/') return void res.writeHead(302, { location: 'ftp://example.org/x' }).end();
      if (url === '/simple/hang/') return; // never answers
      res.end(`ok ${url}`);
    });
  });

  afterAll(async () => {
    await client.close();
    await index.close();
    await fileHost.close();
  });

  beforeEach(() => {
    index.seen.length = 0;
    fileHost.seen.length = 0;
  });

  const upstream = (auth: UpstreamConfig['auth'], credentialOrigins: string[] = []): UpstreamConfig => ({
    name: 'private',
    protocol: 'pypi',
    url: `${index.origin}/simple/`,
    priority: 10,
    auth,
    credentialOrigins,
  });
  const basic = { type: 'basic' as const, username: 'ci', password: SECRET };
  const basicHeader = `Basic ${Buffer.from(`ci:${SECRET}`).toString('base64')}`;

  it('sends basic credentials to the upstream origin, also after a same-origin redirect', async () => {
    const res = await client.get(upstream(basic), `${index.origin}/simple/same-origin/`);
    expect(res.status).toBe(200);
    expect(await text(res.body)).toBe('ok /simple/target/');
    expect(res.url).toBe(`${index.origin}/simple/target/`);
    expect(index.seen.map((s) => s.authorization)).toEqual([basicHeader, basicHeader]);
  });

  it('sends a bearer token to the upstream origin', async () => {
    const res = await client.get(upstream({ type: 'bearer', token: TOKEN }), `${index.origin}/simple/x/`);
    res.body.resume();
    expect(index.seen[0]!.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('never sends credentials to a file host the upstream redirects to', async () => {
    const res = await client.get(upstream(basic), `${index.origin}/simple/to-file-host/`);
    expect(await text(res.body)).toBe('file bytes');
    expect(index.seen[0]!.authorization).toBe(basicHeader);
    expect(fileHost.seen).toHaveLength(1);
    expect(fileHost.seen[0]!.authorization).toBeUndefined();
  });

  it('sends credentials to a file host configured as a credential origin', async () => {
    const res = await client.get(upstream(basic, [fileHost.origin]), `${index.origin}/simple/to-file-host/`);
    res.body.resume();
    expect(fileHost.seen[0]!.authorization).toBe(basicHeader);
  });

  it('sends nothing when the upstream has no credentials', async () => {
    const res = await client.get(upstream({ type: 'none' }), `${index.origin}/simple/x/`);
    res.body.resume();
    expect(index.seen[0]!.authorization).toBeUndefined();
  });

  it('stops after the redirect limit', async () => {
    const err = await client.get(upstream(basic), `${index.origin}/simple/loop/`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).failure).toBe('too-many-redirects');
    expect(index.seen).toHaveLength(4);
  });

  it('refuses a redirect to a non-http scheme', async () => {
    const err = await client.get(upstream(basic), `${index.origin}/simple/ftp/`).catch((e: unknown) => e);
    expect((err as UpstreamError).failure).toBe('invalid-redirect');
  });

  it('reports a timeout and an unreachable upstream without credentials in the message', async () => {
    const timeout = await client.get(upstream(basic), `${index.origin}/simple/hang/`).catch((e: unknown) => e);
    expect((timeout as UpstreamError).failure).toBe('timeout');
    expect((timeout as UpstreamError).transient).toBe(true);
    const closed = await server(() => {});
    const origin = closed.origin;
    await closed.close();
    const refused = await client.get({ ...upstream(basic), url: `${origin}/simple/` }, `${origin}/simple/x/`).catch((e: unknown) => e);
    expect((refused as UpstreamError).failure).toBe('unreachable');
    for (const err of [timeout, refused]) {
      expect(String((err as Error).message)).not.toContain(SECRET);
      expect(String((err as Error).message)).toMatch(/^upstream private /);
    }
  });
});

describe('UpstreamClient: private addresses', () => {
  let fileHost: Awaited<ReturnType<typeof server>>;
  let index: Awaited<ReturnType<typeof server>>;
  const settings = { connections: 4, connectTimeoutMs: 1000, readTimeoutMs: 500, keepAliveMs: 1000, maxRedirects: 3 };
  const client = new UpstreamClient(settings);
  const strict = new UpstreamClient({ ...settings, denyPrivateNetworks: true });
  const upstream = (): UpstreamConfig => ({ name: 'local', protocol: 'pypi', url: `${index.origin}/simple/`, priority: 10, auth: { type: 'none' }, credentialOrigins: [] });

  beforeAll(async () => {
    fileHost = await server((_req, res) => res.end('internal bytes'));
    index = await server((req, res) => {
      if (req.url === '/simple/to-file-host/') return void res.writeHead(302, { location: `${fileHost.origin}/f.whl` }).end();
      res.end(`ok ${req.url}`);
    });
  });

  afterAll(async () => {
    await client.close();
    await strict.close();
    await index.close();
    await fileHost.close();
  });

  it('connects to an upstream on a private address, its own origin only, by default', async () => {
    const res = await client.get(upstream(), `${index.origin}/files/a.whl`);
    expect(res.status).toBe(200);
    expect(await text(res.body)).toBe('ok /files/a.whl');
  });

  it('refuses file URLs and redirects to another private origin before connecting, without saying what it resolved to', async () => {
    const port = new URL(fileHost.origin).port;
    const targets = [
      `${fileHost.origin}/f.whl`,
      `http://localhost:${port}/f.whl`,
      `http://[::ffff:127.0.0.1]:${port}/f.whl`,
      `http://[::ffff:7f00:1]:${port}/f.whl`,
      `http://[64:ff9b::7f00:1]:${port}/f.whl`,
      `http://[::127.0.0.1]:${port}/f.whl`,
      `${index.origin}/simple/to-file-host/`,
    ];
    for (const target of targets) {
      const err = await client.get(upstream(), target).catch((e: unknown) => e);
      expect(err, target).toBeInstanceOf(UpstreamError);
      expect((err as UpstreamError).failure).toBe('denied');
      expect((err as UpstreamError).transient).toBe(false);
      expect((err as Error).message).toBe('upstream local: refused, a file URL or redirect points at a private or loopback address');
    }
    expect(fileHost.seen).toEqual([]);
  });

  it('with denyPrivateNetworks refuses the upstream origin too, naming the address', async () => {
    const err = await strict.get(upstream(), `${index.origin}/simple/x/`).catch((e: unknown) => e);
    expect((err as UpstreamError).failure).toBe('denied');
    expect((err as Error).message).toMatch(/refused to connect, 127\.0\.0\.1 is a private address/);
  });
});

async function text(body: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const chunk of body) out += chunk.toString();
  return out;
}
