import { readdir } from 'node:fs/promises';
import http from 'node:http';
import type { OrchardProcesses } from '../support/orchard.js';
import type { RawResponse } from '../api/http.js';

export const ADMIN_TOKEN = 'views-admin-token-0123456789';

/**
 * One keep-alive connection for the admin API and the reads that check it: a gateway of several
 * processes answers a connection from one process, so a read after a write on it sees the write at
 * once (the other processes get it within 2 s, which the propagation test checks separately).
 */
const pinned = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** Closes the pinned connection (afterAll). */
export function closePinned(): void {
  pinned.destroy();
}

function send(url: string, options: { method?: string; headers?: Record<string, string>; body?: string; agent: http.Agent | false }): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers ?? {}, agent: options.agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A request on the pinned keep-alive connection. */
export function pinnedRequest(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<RawResponse> {
  return send(url, { ...options, agent: pinned });
}

/** A request on a connection of its own (no keep-alive), so the kernel may hand it to any gateway process. */
export function freshRequest(url: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return send(url, { headers: { ...headers, connection: 'close' }, agent: false });
}

export interface AdminAnswer<T> {
  status: number;
  body: T;
}

/**
 * An admin API call (`/api/v1/admin<pathname>`) with the test token, on the pinned connection.
 * `body` is sent as JSON: an object as is, a string verbatim (for malformed bodies).
 */
export async function admin<T = any>(orchard: OrchardProcesses, pathname: string, method = 'GET', body?: unknown, token: string | null = ADMIN_TOKEN): Promise<AdminAnswer<T>> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (body !== undefined) {
    payload = typeof body === 'string' ? body : JSON.stringify(body);
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  const res = await pinnedRequest(`${orchard.gatewayUrl}/api/v1/admin${pathname}`, { method, headers, body: payload });
  const text = res.body.toString();
  const json = (res.headers['content-type'] ?? '').startsWith('application/json') && text !== '';
  return { status: res.status, body: (json ? JSON.parse(text) : text) as T };
}

/** What the admin API and `GET /v/<view>/` say of a view. */
export interface ViewDescription {
  name: string;
  rules: Record<string, unknown>;
  source: string;
  revision: unknown;
  updatedAt: unknown;
}

/**
 * The view in an admin answer: `GET /api/v1/admin/views/<name>` (and PUT's answer) may give the
 * view itself or wrap it as `{ view }` (as the upstreams API wraps `{ upstream }`); either is read.
 */
export function viewOf(body: any): ViewDescription {
  return (body && typeof body === 'object' && 'view' in body ? body.view : body) as ViewDescription;
}

/** `name-version` of every distribution `pip install --target <dir>` put there (from the `.dist-info` directories). */
export async function installedDists(dir: string): Promise<string[]> {
  const entries = await readdir(dir);
  return entries
    .filter((e) => e.endsWith('.dist-info'))
    .map((e) => e.slice(0, -'.dist-info'.length))
    .sort();
}

/** The filenames a PEP 691 JSON project page lists. */
export function jsonFilenames(body: Buffer): string[] {
  const doc = JSON.parse(body.toString()) as { files: Array<{ filename: string }> };
  return doc.files.map((f) => f.filename).sort();
}

/** The filenames a PEP 503 HTML project page links (the anchors' text). */
export function htmlFilenames(body: Buffer): string[] {
  return [...body.toString().matchAll(/<a\s[^>]*>([^<]+)<\/a>/g)].map((m) => m[1]!).sort();
}

/** One access-log line of the gateway. */
export interface AccessLine {
  pid: number;
  path: string;
  status: number;
  ua?: string;
}

/**
 * The gateway's `request` lines so far. Tolerant of a line still being written (the output is read
 * while the processes run); every other line is a JSON record.
 */
export function accessLines(output: string): AccessLine[] {
  const lines: AccessLine[] = [];
  for (const raw of output.split('\n')) {
    if (!raw.startsWith('{')) continue;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (record.msg === 'request') lines.push({ pid: record.pid as number, path: record.path as string, status: record.status as number, ua: record.ua as string | undefined });
  }
  return lines;
}
