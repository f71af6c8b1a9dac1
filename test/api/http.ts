import http from 'node:http';

/** A raw HTTP answer: the body exactly as sent (not decompressed), every header lower-cased. */
export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * One HTTP request with node:http, so tests see the bytes on the wire: no automatic decompression,
 * no redirect following (fetch does both).
 */
export function request(url: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export { waitFor } from '../support/wait.js';

export const JSON_TYPE = 'application/vnd.pypi.simple.v1+json';
export const HTML_TYPE = 'application/vnd.pypi.simple.v1+html';
/** What pip 23 sends. */
export const PIP_ACCEPT = `${JSON_TYPE}, ${HTML_TYPE}; q=0.1, text/html; q=0.01`;
