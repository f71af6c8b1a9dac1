import type { ServerResponse } from 'node:http';

/** Body bytes of a response that the socket has flushed, by response (only for tracked responses). */
const flushedBytes = new WeakMap<ServerResponse, { bytes: number }>();
/** The status of a response the gateway itself cut off after its headers were sent. */
const cutOffStatus = new WeakMap<ServerResponse, number>();

/**
 * Counts the body bytes of `res` the socket has flushed (each write's callback). 'finish' alone
 * misses a client that closes the instant it has read `Content-Length` bytes: a streamed body's
 * source (a file, an upstream) may not have signalled its end yet, so `end()` was never called,
 * although every byte went out.
 */
export function trackBodyDelivery(res: ServerResponse): void {
  const state = { bytes: 0 };
  flushedBytes.set(res, state);
  const write = res.write;
  res.write = function (this: ServerResponse, chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    const done = typeof encoding === 'function' ? encoding : callback;
    const charset = typeof encoding === 'string' ? (encoding as BufferEncoding) : undefined;
    const size = typeof chunk === 'string' ? Buffer.byteLength(chunk, charset) : ((chunk as Uint8Array | null)?.byteLength ?? 0);
    return write.call(this, chunk, charset as BufferEncoding, (err?: Error | null) => {
      if (!err) state.bytes += size;
      if (typeof done === 'function') (done as (err?: Error | null) => void)(err);
    });
  } as typeof res.write;
}

/**
 * Whether the whole body of `res` was handed to the operating system: the response finished, or
 * (for a tracked response with a `Content-Length`) that many body bytes were flushed.
 */
export function bodyDelivered(res: ServerResponse): boolean {
  if (res.writableFinished) return true;
  const length = Number(res.getHeader('content-length'));
  const flushed = flushedBytes.get(res);
  return flushed !== undefined && Number.isInteger(length) && length > 0 && flushed.bytes >= length;
}

/** Cuts off a response whose headers are out because the gateway failed it (not the client). */
export function cutOff(res: ServerResponse, status: number): void {
  cutOffStatus.set(res, status);
  res.destroy();
}

/**
 * The status to log and count for a closed response: its own when its body was delivered, the
 * failure's when the gateway cut it off, 499 (nginx's "client closed request") when the client
 * left before the body was complete.
 */
export function finalStatus(res: ServerResponse): number {
  if (bodyDelivered(res)) return res.statusCode;
  return cutOffStatus.get(res) ?? 499;
}
