/** Small helpers the fault suite shares: polling, storage inspection, raw HTTP, process memory. */
import { readFile, readdir, stat } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';

export { sleep, waitFor } from '../../support/wait.js';

/** Where the fs store keeps a file's bytes. */
export function blobPath(dataDir: string, sha256: string): string {
  return path.join(dataDir, 'blobs', 'sha256', sha256.slice(0, 2), sha256.slice(2, 4), sha256);
}

export async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

/** Every regular file under `dir`, relative to it (an empty list when `dir` is missing). */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(current: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(current, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const full = path.join(current, e.name);
      if (e.isDirectory()) await walk(full);
      else out.push(path.relative(dir, full));
    }
  }
  await walk(dir);
  return out.sort();
}

/** Objects visible under `blobs/` in an fs store (half-written files live in `.tmp/`, never here). */
export async function storedBlobs(dataDir: string): Promise<string[]> {
  return (await listFiles(path.join(dataDir, 'blobs'))).map((f) => path.basename(f));
}

/** One-off query against a database. */
export async function query<T extends Record<string, unknown>>(databaseUrl: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

export async function artifactRows(databaseUrl: string, sha256: string): Promise<Array<{ sha256: string; size: number; filename: string }>> {
  return query(databaseUrl, 'SELECT sha256, size::int AS size, filename FROM artifact WHERE sha256 = $1', [sha256]);
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  ms: number;
}

/**
 * A request whose path is sent exactly as given (fetch and URL normalise `..` and `%2e`), with a
 * timeout. Resolves for every status.
 */
export function rawGet(
  port: number,
  rawPath: string,
  options: { method?: string; headers?: Record<string, string>; timeoutMs?: number; body?: Buffer } = {},
): Promise<RawResponse> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: rawPath, method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), ms: Date.now() - started }));
      res.on('error', reject);
    });
    req.setTimeout(options.timeoutMs ?? 20_000, () => req.destroy(new Error(`request for ${rawPath.slice(0, 80)} timed out`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * Sends bytes on a raw TCP connection and collects the answer until the server closes it (or
 * `timeoutMs`). For requests no HTTP client would send.
 */
export function rawExchange(port: number, data: Buffer | string, timeoutMs = 10_000): Promise<{ text: string; closedBy: 'server' | 'timeout' }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closedBy: 'timeout' });
    }, timeoutMs);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closedBy: 'server' });
    });
    socket.write(data);
  });
}

/** Status line's code of a raw HTTP answer, or 0. */
export function statusOf(raw: string): number {
  return Number(/^HTTP\/1\.[01] (\d{3})/.exec(raw)?.[1] ?? 0);
}

/** Resident memory of a process, in bytes (Linux). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  return kb * 1024;
}

/** GET with a deadline; resolves status and text. */
export async function getText(url: string, init: RequestInit & { timeoutMs?: number } = {}): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(init.timeoutMs ?? 30_000) });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** GET a file; resolves its status and bytes (throws when the body breaks off). */
export async function getBytes(url: string, timeoutMs = 60_000): Promise<{ status: number; bytes: Buffer; headers: Headers }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}
