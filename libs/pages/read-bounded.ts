import type { Readable } from 'node:stream';

/** Thrown when a body is larger than the caller allows. */
export class BodyTooLargeError extends Error {
  constructor(what: string, limit: number) {
    super(`${what} is larger than ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/** Reads a whole body into memory, refusing (and destroying the stream) past `limit` bytes. */
export async function readBounded(body: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      body.destroy();
      throw new BodyTooLargeError(what, limit);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}
