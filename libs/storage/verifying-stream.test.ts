import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { HashMismatchError, SizeLimitError } from './errors.js';
import { VerifyingStream } from './verifying-stream.js';

const bytes = Buffer.from('hello orchard');
const digest = createHash('sha256').update(bytes).digest('hex');

function sink(events: string[]): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      events.push('data');
      callback();
    },
    final(callback) {
      events.push('end');
      callback();
    },
  });
}

describe('VerifyingStream', () => {
  it('passes bytes through and exposes digest and size at the end', async () => {
    const verifier = new VerifyingStream({ expectedSha256: digest });
    const events: string[] = [];
    expect(verifier.digest).toBeUndefined();
    await pipeline(Readable.from([bytes.subarray(0, 5), bytes.subarray(5)]), verifier, sink(events));
    expect(verifier.verified()).toEqual({ sha256: digest, size: bytes.length });
    expect(verifier.bytesSeen).toBe(bytes.length);
    expect(events).toEqual(['data', 'data', 'end']);
  });

  it('fails before the consumer sees an end when the hash differs', async () => {
    const verifier = new VerifyingStream({ expectedSha256: '0'.repeat(64) });
    const events: string[] = [];
    await expect(pipeline(Readable.from([bytes]), verifier, sink(events))).rejects.toBeInstanceOf(HashMismatchError);
    expect(events).not.toContain('end');
    expect(verifier.digest).toBeUndefined();
    expect(() => verifier.verified()).toThrow();
  });

  it('fails once more than maxBytes passed', async () => {
    const verifier = new VerifyingStream({ maxBytes: 4 });
    const events: string[] = [];
    await expect(pipeline(Readable.from([bytes]), verifier, sink(events))).rejects.toBeInstanceOf(SizeLimitError);
    expect(events).toEqual([]);
  });

  it('accepts a body of exactly maxBytes', async () => {
    const verifier = new VerifyingStream({ maxBytes: bytes.length });
    await pipeline(Readable.from([bytes]), verifier, sink([]));
    expect(verifier.verified().size).toBe(bytes.length);
  });
});
