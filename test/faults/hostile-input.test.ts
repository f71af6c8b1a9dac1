/**
 * Hostile input. Paths and names (`..`, encoded traversal, NUL, over-long names and URLs, unicode
 * look-alikes, file ids no upstream listed): a 4xx with a short reason, nothing read outside the
 * store, no upstream request. Requests (oversized headers and bodies, slowloris, slow readers):
 * bounded memory, timeouts, and other clients unaffected.
 */
import { createHash, randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel, type BuiltDist } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { getBytes, listFiles, rawExchange, rawGet, rssBytes, sleep, statusOf, waitFor } from './support/helpers.js';

const MiB = 1024 * 1024;

describe('hostile input', () => {
  const upstream = new FakeUpstream();
  let orchard: OrchardProcesses;
  let app: BuiltDist;
  let big: BuiltDist;
  let canaryPath: string;
  const canary = `orchard-canary-${randomBytes(8).toString('hex')}`;

  const gatewayPid = () => orchard.children.get('gateway')!.pid!;
  /** A normal client's request, timed: what "other clients unaffected" means. */
  async function normalRequestMs(): Promise<number> {
    const res = await rawGet(orchard.ports.gateway, '/simple/app/', { timeoutMs: 5_000 });
    expect(res.status).toBe(200);
    return res.ms;
  }

  beforeAll(async () => {
    app = await buildWheel({ name: 'app', version: '1.0.0' });
    big = await buildWheel({ name: 'big', version: '1.0.0', padBytes: 16 * MiB });
    upstream.publish('app', { filename: app.filename, bytes: app.bytes });
    upstream.publish('big', { filename: big.filename, bytes: big.bytes });
    await upstream.start();
    orchard = await OrchardProcesses.start({
      upstreams: `local=${upstream.url}`,
      services: ['gateway', 'fetcher'],
      env: { ORCHARD_HTTP_HEADERS_TIMEOUT_MS: '3000', ORCHARD_HTTP_IDLE_TIMEOUT_MS: '5000' },
    });
    // A file next to the data directory that no request may ever read.
    canaryPath = path.join(path.dirname(orchard.dataDir), `canary-${path.basename(orchard.dataDir)}`);
    await writeFile(canaryPath, canary);
    // Warm: both pages and files cached, so the upstream knows what "listed" means.
    for (const d of [app, big]) {
      const project = d === app ? 'app' : 'big';
      expect((await rawGet(orchard.ports.gateway, `/simple/${project}/`)).status).toBe(200);
      expect((await getBytes(`${orchard.gatewayUrl}/files/${project}/${d.sha256}/${d.filename}`)).status).toBe(200);
    }
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    await rm(canaryPath, { force: true });
    await orchard?.stop();
    await upstream.stop();
  });

  it('refuses hostile paths and names with a short 4xx, reads nothing outside the store, asks no upstream', async () => {
    const sha = app.sha256;
    const unlisted = createHash('sha256').update('never listed').digest('hex');
    const canaryName = path.basename(canaryPath);
    const paths = [
      '/simple/../../etc/passwd',
      '/simple/%2e%2e/',
      '/simple/%2e%2e%2f%2e%2e%2fetc%2fpasswd/',
      '/simple/..%2f..%2fetc%2fpasswd',
      '/simple/app%00/',
      '/simple/app%00',
      '/simple/%00/',
      '/simple/%E0%A4%A/',
      '/simple/%ZZ/',
      `/simple/${'a'.repeat(201)}/`,
      `/simple/${'a'.repeat(12_000)}/`,
      // Unicode look-alikes: Cyrillic ѕ, fullwidth ａ, a zero-width space, a combining diaeresis, Kelvin sign.
      '/simple/reque%D1%95ts/',
      '/simple/%EF%BD%81pp/',
      '/simple/app%E2%80%8B/',
      '/simple/a%CC%88pp/',
      '/simple/%E2%84%AApp/',
      `/files/app/${sha}/..%2f..%2f..%2fetc%2fpasswd`,
      `/files/app/${sha}/..%2f..%2f${canaryName}`,
      `/files/app/${sha}/%2e%2e`,
      `/files/app/${sha}/..`,
      `/files/app/../../../etc/passwd`,
      `/files/..%2f..%2fetc/${sha}/passwd`,
      `/files/app/${sha}/${app.filename}%00.txt`,
      `/files/app/${sha}/..%5c..%5cetc%5cpasswd`,
      `/files/app/${sha.toUpperCase()}/${app.filename}`,
      `/files/app/${sha.slice(0, 63)}/${app.filename}`,
      `/files/app/..%2f${sha.slice(3)}/${app.filename}`,
      `/files/app/${sha}/${'a'.repeat(300)}.whl`,
      `/files/App/${sha}/${app.filename}`,
      `/files/app/${sha}/%EF%BC%8Fetc%EF%BC%8Fpasswd`,
      // Ids and names no upstream listed (the project's page is cached: nothing to ask upstream).
      `/files/app/${unlisted}/${app.filename}`,
      `/files/app/${sha}/app-6.6.6-py3-none-any.whl`,
      `/files/app/${unlisted}/${app.filename}.metadata`,
      '/files/app/',
      '//etc/passwd',
      '/simple/app/%2e%2e/%2e%2e/',
    ];
    const before = upstream.requests.length;
    const before_files = await listFiles(orchard.dataDir);
    for (const p of paths) {
      const res = await rawGet(orchard.ports.gateway, p);
      const body = res.body.toString('utf8');
      expect(res.status, `${p.slice(0, 120)} → ${res.status} ${body}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `${p.slice(0, 120)} → ${res.status} ${body}`).toBeLessThan(500);
      expect(body.length, p.slice(0, 120)).toBeLessThan(300);
      expect(body).not.toContain(canary);
      expect(body).not.toMatch(/root:.*:0:0/);
    }
    // An over-long request line: refused by the HTTP parser itself.
    const long = await rawExchange(orchard.ports.gateway, `GET /simple/${'a'.repeat(80_000)}/ HTTP/1.1\r\nHost: x\r\n\r\n`, 5_000);
    expect(statusOf(long.text)).toBe(431);
    expect(upstream.requests.length).toBe(before);
    expect(await listFiles(orchard.dataDir)).toEqual(before_files);
    expect((await rawGet(orchard.ports.gateway, '/health')).status).toBe(200);
  });

  it('answers 431 to oversized headers and keeps serving', async () => {
    const huge = await rawExchange(orchard.ports.gateway, `GET /simple/app/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(64 * 1024)}\r\n\r\n`, 5_000);
    expect(statusOf(huge.text)).toBe(431);
    const many = Array.from({ length: 3000 }, (_, i) => `X-H${i}: ${'v'.repeat(10)}\r\n`).join('');
    const manyRes = await rawExchange(orchard.ports.gateway, `GET /simple/app/ HTTP/1.1\r\nHost: x\r\n${many}\r\n`, 5_000);
    expect(statusOf(manyRes.text)).toBe(431);
    expect(await normalRequestMs()).toBeLessThan(1_000);
  });

  it('refuses request bodies nobody asked for without buffering them', async () => {
    const rssBefore = await rssBytes(gatewayPid());
    const body = Buffer.alloc(64 * MiB, 0x61);
    const started = Date.now();
    for (const [method, p] of [
      ['POST', '/simple/app/'],
      ['PUT', `/files/app/${app.sha256}/${app.filename}`],
      ['GET', '/simple/app/'],
    ] as const) {
      const res = await rawGet(orchard.ports.gateway, p, { method, body, headers: { 'content-type': 'application/octet-stream' }, timeoutMs: 30_000 }).catch((err: Error) => ({
        status: 0,
        error: err.message,
      }));
      // The answer may race the upload: either a status, or the connection closed under it.
      if (res.status !== 0) expect(res.status, `${method} ${p}`).toBeLessThan(500);
      if (method !== 'GET' && res.status !== 0) expect(res.status).toBeGreaterThanOrEqual(400);
    }
    expect(Date.now() - started).toBeLessThan(30_000);
    expect((await rssBytes(gatewayPid())) - rssBefore).toBeLessThan(48 * MiB);
    expect(await normalRequestMs()).toBeLessThan(1_000);
  });

  it('times out slowloris clients (headers sent byte by byte) while normal clients are served at once', async () => {
    const request = 'GET /simple/app/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\nX-Slow: ';
    const sockets: Array<{ socket: net.Socket; closedAt?: number; timer?: NodeJS.Timeout }> = [];
    const started = Date.now();
    for (let i = 0; i < 64; i++) {
      const entry: (typeof sockets)[number] = { socket: net.connect(orchard.ports.gateway, '127.0.0.1') };
      let sent = 0;
      entry.socket.on('error', () => {});
      entry.socket.on('close', () => {
        entry.closedAt = Date.now();
        clearInterval(entry.timer);
      });
      entry.timer = setInterval(() => {
        if (entry.socket.destroyed) return;
        entry.socket.write(sent < request.length ? request[sent]! : 'x');
        sent++;
      }, 200);
      sockets.push(entry);
    }
    try {
      await sleep(1_000);
      const latencies = [];
      for (let i = 0; i < 5; i++) latencies.push(await normalRequestMs());
      expect(Math.max(...latencies)).toBeLessThan(1_000);
      // ORCHARD_HTTP_HEADERS_TIMEOUT_MS is 3 s here, checked about every second.
      await waitFor('every slowloris socket to be closed by the gateway', () => (sockets.every((s) => s.closedAt !== undefined) ? true : undefined), 15_000, 250);
      expect(Math.max(...sockets.map((s) => s.closedAt! - started))).toBeLessThan(10_000);
    } finally {
      for (const s of sockets) {
        clearInterval(s.timer);
        s.socket.destroy();
      }
    }
    expect(await normalRequestMs()).toBeLessThan(1_000);
  });

  it('bounds memory for slow readers of a large file and closes them once stalled', async () => {
    const rssBefore = await rssBytes(gatewayPid());
    const readers: Array<{ socket: net.Socket; closedAt?: number; received: number }> = [];
    for (let i = 0; i < 24; i++) {
      const socket = net.connect(orchard.ports.gateway, '127.0.0.1');
      const entry: (typeof readers)[number] = { socket, received: 0 };
      socket.on('error', () => {});
      socket.on('close', () => (entry.closedAt = Date.now()));
      socket.on('data', (chunk: Buffer) => {
        entry.received += chunk.length;
        socket.pause(); // read one chunk, then never again
      });
      socket.write(`GET /files/big/${big.sha256}/${big.filename} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      readers.push(entry);
    }
    try {
      await sleep(2_000);
      // 24 readers of a 16 MiB file: were it buffered, the gateway would hold ~400 MiB.
      const rssDuring = await rssBytes(gatewayPid());
      expect(rssDuring - rssBefore).toBeLessThan(64 * MiB);
      expect(await normalRequestMs()).toBeLessThan(1_000);
      const probe = await getBytes(`${orchard.gatewayUrl}/files/app/${app.sha256}/${app.filename}`, 5_000);
      expect(probe.status).toBe(200);
      // ORCHARD_HTTP_IDLE_TIMEOUT_MS is 5 s here: a stalled reader is cut off. A paused socket does
      // not notice, so read on afterwards: what arrives is what was in flight, then the close.
      await sleep(6_000);
      for (const r of readers) {
        r.socket.removeAllListeners('data');
        r.socket.on('data', (chunk: Buffer) => (r.received += chunk.length));
        r.socket.resume();
      }
      await waitFor('every stalled reader to be closed by the gateway', () => (readers.every((r) => r.closedAt !== undefined) ? true : undefined), 20_000, 250);
      for (const r of readers) expect(r.received).toBeLessThan(big.bytes.length);
    } finally {
      for (const r of readers) r.socket.destroy();
    }
    expect(orchard.children.get('gateway')?.exitCode).toBeNull();
    expect(await normalRequestMs()).toBeLessThan(1_000);
  });
});
