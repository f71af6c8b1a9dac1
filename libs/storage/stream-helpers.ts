import { Writable } from 'node:stream';

/** A sink that drops every chunk (for verifying a body without storing it). */
export function discard(): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
}

/** `{ signal }` for stream.pipeline, or nothing when there is no signal. */
export function signalOption(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal ? { signal } : {};
}
