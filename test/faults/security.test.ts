/**
 * No open proxy: Orchard fetches only URLs a configured upstream's page listed (absolute-form
 * requests, CONNECT and unlisted files reach nothing); a redirect to another host carries no
 * credentials; file URLs and redirects to private addresses other than the upstream's own origin are
 * refused before connecting (with ORCHARD_DENY_PRIVATE_NETWORKS the upstream's own origin too).
 * Only loopback addresses are used (the private ranges are refused by the check, never contacted).
 */
import { createHash } from 'node:crypto';
import dns from 'node:dns';
import http from 'node:http';
import os from 'node:os';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel, type BuiltDist } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { artifactRows, getBytes, getText, rawExchange, statusOf, storedBlobs } from './support/helpers.js';

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** A plain file host on its own origin that logs the Authorization header of every request. */
class FileHost {
  readonly requests: Array<{ path: string; authorization?: string }> = [];
  readonly files = new Map<string, Buffer>();
  private server?: http.Server;
  port = 0;

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      this.requests.push({ path: req.url ?? '', authorization: req.headers.authorization });
      const body = this.files.get(req.url ?? '');
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(body);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

describe('no open proxy; redirects carry no credentials', () => {
  const upstream = new FakeUpstream();
  const trusting = new FakeUpstream();
  const fileHost = new FileHost();
  const tcpTarget = net.createServer((s) => s.destroy());
  let tcpConnections = 0;
  let orchard: OrchardProcesses;
  let listed: BuiltDist;
  let hidden: BuiltDist;
  let moved: BuiltDist;
  let trusted: BuiltDist;
  const auth = `Basic ${Buffer.from('orchard:s3cret-upstream-pass').toString('base64')}`;

  beforeAll(async () => {
    listed = await buildWheel({ name: 'listed', version: '1.0.0' });
    hidden = await buildWheel({ name: 'listed', version: '6.6.6' });
    moved = await buildWheel({ name: 'moved', version: '1.0.0' });
    trusted = await buildWheel({ name: 'trusted', version: '1.0.0' });
    upstream.publish('listed', { filename: listed.filename, bytes: listed.bytes });
    upstream.publish('moved', { filename: moved.filename, bytes: moved.bytes });
    trusting.publish('trusted', { filename: trusted.filename, bytes: trusted.bytes });
    upstream.requiredAuthorization = auth;
    trusting.requiredAuthorization = auth;
    await upstream.start();
    await trusting.start();
    await fileHost.start();
    upstream.fileFaults.set(moved.filename, { kind: 'redirect', location: `http://127.0.0.1:${fileHost.port}/moved/${moved.filename}` });
    trusting.fileFaults.set(trusted.filename, { kind: 'redirect', location: `http://127.0.0.1:${fileHost.port}/trusted/${trusted.filename}` });
    fileHost.files.set(`/moved/${moved.filename}`, moved.bytes);
    fileHost.files.set(`/trusted/${trusted.filename}`, trusted.bytes);
    tcpTarget.on('connection', () => tcpConnections++);
    await new Promise<void>((resolve) => tcpTarget.listen(0, '127.0.0.1', resolve));
    const withCreds = upstream.url.replace('http://', 'http://orchard:s3cret-upstream-pass@');
    orchard = await OrchardProcesses.start({
      upstreams: `private=${withCreds} trusting=${trusting.url.replace('http://', 'http://orchard:s3cret-upstream-pass@')}`,
      services: ['gateway', 'fetcher'],
      // The file host is another origin on loopback: exempt, as a private deployment's CDN would be.
      env: { ORCHARD_UPSTREAM_TRUSTING_CREDENTIAL_ORIGINS: `http://127.0.0.1:${fileHost.port}`, ORCHARD_ALLOWED_HOSTS: '127.0.0.1' },
    });
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    await orchard?.stop();
    await upstream.stop();
    await trusting.stop();
    await fileHost.stop();
    await new Promise<void>((resolve) => tcpTarget.close(() => resolve()));
  });

  it('never forwards absolute-form requests, CONNECT tunnels, or files no page listed', async () => {
    const before = upstream.requests.length;
    const target = `127.0.0.1:${(tcpTarget.address() as AddressInfo).port}`;
    const upstreamHost = new URL(upstream.url).host;
    const absolute = await rawExchange(
      orchard.ports.gateway,
      `GET http://${upstreamHost}/files/${hidden.filename} HTTP/1.1\r\nHost: ${upstreamHost}\r\nConnection: close\r\n\r\n`,
      5_000,
    );
    expect(statusOf(absolute.text)).toBeGreaterThanOrEqual(400);
    expect(statusOf(absolute.text)).toBeLessThan(500);
    const connect = await rawExchange(orchard.ports.gateway, `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`, 5_000);
    expect(statusOf(connect.text)).not.toBe(200);
    // A file the upstream has but no page listed: its real sha256 and name are not enough.
    upstream.publish('other', { filename: hidden.filename, bytes: hidden.bytes });
    const unlisted = await getText(`${orchard.gatewayUrl}/files/listed/${hidden.sha256}/${hidden.filename}`);
    expect(unlisted.status).toBe(404);
    expect(unlisted.text).toMatch(/not listed/);
    expect(upstream.fileRequests()).toEqual([]);
    expect(upstream.requests.slice(before).every((r) => r.path === '/simple/listed/')).toBe(true);
    expect(tcpConnections).toBe(0);
  });

  it('sends no credentials to a file host the upstream redirects to, unless that origin is trusted', async () => {
    const res = await getBytes(`${orchard.gatewayUrl}/files/moved/${moved.sha256}/${moved.filename}`);
    expect(res.status).toBe(200);
    expect(sha(res.bytes)).toBe(moved.sha256);
    const hops = fileHost.requests.filter((r) => r.path.startsWith('/moved/'));
    expect(hops.length).toBeGreaterThan(0);
    expect(hops.every((r) => r.authorization === undefined)).toBe(true);
    // The upstream itself did get them (it requires them).
    expect(upstream.fileRequests().every((r) => r.authorization === auth)).toBe(true);
    // Control: an upstream configured to trust that origin (CREDENTIAL_ORIGINS) does send them.
    expect((await getText(`${orchard.gatewayUrl}/simple/trusted/`)).status).toBe(200);
    const trustedRes = await getBytes(`${orchard.gatewayUrl}/files/trusted/${trusted.sha256}/${trusted.filename}`);
    expect(trustedRes.status).toBe(200);
    expect(fileHost.requests.filter((r) => r.path.startsWith('/trusted/')).map((r) => r.authorization)).toContain(auth);
  });
});

describe('ORCHARD_DENY_PRIVATE_NETWORKS', () => {
  const allowed = new FakeUpstream();
  const denied = new FakeUpstream();
  let orchard: OrchardProcesses;
  let app: BuiltDist;
  let redirected: BuiltDist;
  let literal: BuiltDist;

  /** A host name other than `localhost` that resolves to a loopback address here (the machine's own name), if any. */
  let otherName: string | undefined;

  beforeAll(async () => {
    const own = os.hostname();
    const resolved = await dns.promises.lookup(own, { all: true }).catch(() => []);
    if (own !== 'localhost' && resolved.length > 0 && resolved.every((a) => a.address.startsWith('127.') || a.address === '::1')) otherName = own;
    app = await buildWheel({ name: 'app', version: '1.0.0' });
    redirected = await buildWheel({ name: 'redirected', version: '1.0.0' });
    literal = await buildWheel({ name: 'literal', version: '1.0.0' });
    const only = await buildWheel({ name: 'only-on-denied', version: '1.0.0' });
    await allowed.start();
    await denied.start();
    const deniedPort = new URL(denied.url).port;
    allowed.publish('app', { filename: app.filename, bytes: app.bytes });
    allowed.publish('redirected', { filename: redirected.filename, bytes: redirected.bytes });
    allowed.publish('literal', { filename: literal.filename, bytes: literal.bytes });
    // Redirects to loopback addresses that are not allowed: by a name that resolves to one (when
    // this machine has such a name), and by IP literal.
    allowed.fileFaults.set(redirected.filename, { kind: 'redirect', location: `http://${otherName ?? '127.0.0.3'}:${deniedPort}/files/${redirected.filename}` });
    allowed.fileFaults.set(literal.filename, { kind: 'redirect', location: `http://127.0.0.2:${deniedPort}/files/${literal.filename}` });
    denied.publish('only-on-denied', { filename: only.filename, bytes: only.bytes });
    denied.publish('redirected', { filename: redirected.filename, bytes: redirected.bytes });
    denied.publish('literal', { filename: literal.filename, bytes: literal.bytes });
    orchard = await OrchardProcesses.start({
      // The allowed upstream is allowed by its name (checked at connect time, after resolving);
      // the denied one is the same loopback address, by IP literal, which is not allowed.
      upstreams: `allowed=${allowed.url.replace('127.0.0.1', 'localhost')} denied=${denied.url}`,
      services: ['gateway', 'fetcher'],
      env: { ORCHARD_DENY_PRIVATE_NETWORKS: 'true', ORCHARD_ALLOWED_HOSTS: 'localhost', ORCHARD_FETCH_WAIT_MS: '10000' },
    });
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    await orchard?.stop();
    await allowed.stop();
    await denied.stop();
  });

  it('serves from an allowed host', async () => {
    expect((await getText(`${orchard.gatewayUrl}/simple/app/`)).status).toBe(200);
    const file = await getBytes(`${orchard.gatewayUrl}/files/app/${app.sha256}/${app.filename}`);
    expect(file.status).toBe(200);
    expect(sha(file.bytes)).toBe(app.sha256);
  });

  it('refuses an upstream on a private address, before connecting', async () => {
    const page = await getText(`${orchard.gatewayUrl}/simple/only-on-denied/`);
    expect(page.status).toBe(502);
    expect(page.text).toMatch(/refused to connect, 127\.0\.0\.1 is a private address/);
    expect(denied.requests).toEqual([]);
  });

  it('refuses redirects to private addresses, by name and by IP literal, and says so', async () => {
    for (const d of [redirected, literal]) {
      const project = d === redirected ? 'redirected' : 'literal';
      expect((await getText(`${orchard.gatewayUrl}/simple/${project}/`)).status).toBe(200);
      const res = await getText(`${orchard.gatewayUrl}/files/${project}/${d.sha256}/${d.filename}`);
      expect(res.status, res.text).toBe(502);
      // Another origin than the upstream's: refused without saying what the name resolved to.
      expect(res.text).toMatch(/refused, a file URL or redirect points at a private or loopback address/);
      expect(res.text).not.toMatch(/127\.0\.0\.[0-9]/);
    }
    expect(denied.requests).toEqual([]);
  });
});

describe('file URLs pointing at internal addresses (default policy)', () => {
  const upstream = new FakeUpstream();
  const internal = new FileHost();
  let orchard: OrchardProcesses;
  let wheel: BuiltDist;
  let probe: BuiltDist;
  const refused = /refused, a file URL or redirect points at a private or loopback address/;

  beforeAll(async () => {
    wheel = await buildWheel({ name: 'ssrf', version: '1.0.0' });
    probe = await buildWheel({ name: 'probe', version: '1.0.0' });
    await upstream.start();
    await internal.start();
    // An internal service answering with bytes whose sha256 an attacker knows (like a /health body).
    internal.files.set(`/${wheel.filename}`, wheel.bytes);
    const at = (host: string, file: BuiltDist) => `<a href="http://${host}:${internal.port}/${file.filename}#sha256=${file.sha256}">${file.filename}</a>`;
    upstream.pageOverrides.set('ssrf', { contentType: 'text/html', body: `<!DOCTYPE html><html><body>${at('127.0.0.1', wheel)}</body></html>` });
    upstream.pageOverrides.set('ssrf-mapped', { contentType: 'text/html', body: `<!DOCTYPE html><html><body>${at('[::ffff:127.0.0.1]', wheel)}</body></html>` });
    // An allowed file host answering an error: its status must not come back to the client.
    upstream.pageOverrides.set('probe', { contentType: 'text/html', body: `<!DOCTYPE html><html><body>${at('localhost', probe)}</body></html>` });
    orchard = await OrchardProcesses.start({
      upstreams: `local=${upstream.url}`,
      services: ['gateway', 'fetcher'],
      env: { ORCHARD_ALLOWED_HOSTS: 'localhost' },
    });
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    await orchard?.stop();
    await upstream.stop();
    await internal.stop();
  });

  it('refuses a listed file URL on another loopback origin (also IPv4-mapped), never contacting it or storing anything', async () => {
    for (const project of ['ssrf', 'ssrf-mapped']) {
      expect((await getText(`${orchard.gatewayUrl}/simple/${project}/`)).status).toBe(200);
      const res = await getText(`${orchard.gatewayUrl}/files/${project}/${wheel.sha256}/${wheel.filename}`);
      expect(res.status, res.text).toBe(502);
      expect(res.text).toMatch(refused);
      expect(res.text).not.toMatch(/127\.0\.0\.1|::ffff/);
    }
    expect(internal.requests).toEqual([]);
    expect(await storedBlobs(orchard.dataDir)).not.toContain(wheel.sha256);
    expect(await artifactRows(orchard.database.url, wheel.sha256)).toHaveLength(0);
  });

  it("serves the same file from the upstream's own origin, which is on loopback too", async () => {
    upstream.publish('ssrf-own', { filename: wheel.filename, bytes: wheel.bytes });
    expect((await getText(`${orchard.gatewayUrl}/simple/ssrf-own/`)).status).toBe(200);
    const res = await getBytes(`${orchard.gatewayUrl}/files/ssrf-own/${wheel.sha256}/${wheel.filename}`);
    expect(res.status).toBe(200);
    expect(sha(res.bytes)).toBe(wheel.sha256);
  });

  it("does not echo another origin's status", async () => {
    expect((await getText(`${orchard.gatewayUrl}/simple/probe/`)).status).toBe(200);
    const res = await getText(`${orchard.gatewayUrl}/files/probe/${probe.sha256}/${probe.filename}`);
    expect(res.status).toBe(502);
    expect(res.text).toMatch(/the file host of upstream local answered an error \(4xx\)/);
    expect(res.text).not.toMatch(/404/);
    expect(internal.requests.map((r) => r.path)).toEqual([`/${probe.filename}`]);
  });
});
