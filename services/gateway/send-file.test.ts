import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendBuffer, wholeBodyHeaders } from './send-file.js';

const body = Buffer.from('a small verified wheel');
const file = { sha256: createHash('sha256').update(body).digest('hex'), filename: 'small-1.0-py3-none-any.whl', contentType: 'application/octet-stream' };

/** sendBuffer with headers made ahead (`/made`) and without (`/plain`): the answers must not differ. */
describe('sendBuffer', () => {
  let server: http.Server;
  let base: string;

  beforeAll(async () => {
    const head = wholeBodyHeaders({ ...file, size: body.length });
    server = http.createServer((req, res) => sendBuffer(req, res, body, file, req.url === '/made' ? head : undefined));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise((resolve) => server.close(resolve)));

  async function answer(path: string, init: RequestInit = {}) {
    const res = await fetch(`${base}${path}`, init);
    const headers = Object.fromEntries([...res.headers].filter(([name]) => name !== 'date'));
    return { status: res.status, headers, body: Buffer.from(await res.arrayBuffer()) };
  }

  it('answers a GET and a HEAD the same with headers made ahead as without', async () => {
    for (const method of ['GET', 'HEAD']) {
      const made = await answer('/made', { method });
      expect(made).toEqual(await answer('/plain', { method }));
      expect(made.status).toBe(200);
      expect(made.headers).toMatchObject({ etag: `"${file.sha256}"`, 'content-length': String(body.length), 'accept-ranges': 'bytes' });
      expect(made.body.equals(method === 'GET' ? body : Buffer.alloc(0))).toBe(true);
    }
  });

  it('still answers conditional and range requests in full detail', async () => {
    expect((await answer('/made', { headers: { 'if-none-match': `"${file.sha256}"` } })).status).toBe(304);
    const range = await answer('/made', { headers: { range: 'bytes=0-4' } });
    expect(range).toMatchObject({ status: 206, headers: { 'content-range': `bytes 0-4/${body.length}` } });
    expect(range.body.toString()).toBe('a sma');
  });
});
