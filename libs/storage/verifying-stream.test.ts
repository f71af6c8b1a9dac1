import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { HashMismatchError, SizeLimitError } from './errors.js';
import { VerifyingStream, sha256Digest } from './verifying-stream.js';

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

/** A consumer that records every byte it was given. */
function collect(received: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      received.push(chunk);
      callback();
    },
  });
}

describe('VerifyingStream', () => {
  it('passes bytes through and exposes digest and size at the end', async () => {
    const verifier = new VerifyingStream({ expected: sha256Digest(digest) });
    const events: string[] = [];
    expect(verifier.digest).toBeUndefined();
    await pipeline(Readable.from([bytes.subarray(0, 5), bytes.subarray(5)]), verifier, sink(events));
    expect(verifier.verified()).toEqual({ hex: digest, size: bytes.length });
    expect(verifier.bytesSeen).toBe(bytes.length);
    expect(events).toEqual(['data', 'data', 'end']);
  });

  it('verifies against a sha512 (npm) or sha1 digest just as against a sha256', async () => {
    for (const algorithm of ['sha512', 'sha1'] as const) {
      const hex = createHash(algorithm).update(bytes).digest('hex');
      const right = new VerifyingStream({ expected: { algorithm, hex: hex.toUpperCase() } });
      await pipeline(Readable.from([bytes]), right, sink([]));
      expect(right.verified()).toEqual({ hex, size: bytes.length });
      // The sha256 of the same bytes is no sha512: a digest of another algorithm never passes.
      const wrong = new VerifyingStream({ expected: { algorithm, hex: digest } });
      await expect(pipeline(Readable.from([bytes]), wrong, sink([]))).rejects.toBeInstanceOf(HashMismatchError);
      expect(wrong.mismatch).toBe(true);
    }
  });

  it('tells onVerified once the bytes matched, before its consumer ends; never on a mismatch', async () => {
    const events: string[] = [];
    const good = new VerifyingStream({ expected: sha256Digest(digest), onVerified: (d) => events.push(`verified ${d.size}`) });
    await pipeline(Readable.from([bytes]), good, sink(events));
    expect(events).toEqual(['data', `verified ${bytes.length}`, 'end']);
    const calls: unknown[] = [];
    const bad = new VerifyingStream({ expected: sha256Digest('0'.repeat(64)), onVerified: (d) => calls.push(d) });
    await expect(pipeline(Readable.from([bytes]), bad, sink([]))).rejects.toBeInstanceOf(HashMismatchError);
    expect(calls).toEqual([]);
  });

  it('fails before the consumer sees an end when the hash differs', async () => {
    const verifier = new VerifyingStream({ expected: sha256Digest('0'.repeat(64)) });
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

  it('holds the last chunk back until the hash matched: a wrong body never reaches the consumer complete', async () => {
    const parts = [bytes.subarray(0, 4), bytes.subarray(4, 9), bytes.subarray(9)];
    const wrong = new VerifyingStream({ expected: sha256Digest('0'.repeat(64)), holdLastChunk: true });
    const got: Buffer[] = [];
    await expect(pipeline(Readable.from(parts), wrong, collect(got))).rejects.toBeInstanceOf(HashMismatchError);
    expect(Buffer.concat(got).toString()).toBe(bytes.subarray(0, 9).toString());
    expect([wrong.mismatch, wrong.tooLarge, wrong.bytesSeen]).toEqual([true, false, bytes.length]);

    const right = new VerifyingStream({ expected: sha256Digest(digest), holdLastChunk: true });
    const all: Buffer[] = [];
    await pipeline(Readable.from(parts), right, collect(all));
    expect(Buffer.concat(all)).toEqual(bytes);
    expect([right.mismatch, right.verified()]).toEqual([false, { hex: digest, size: bytes.length }]);
  });

  it('says a body failed for its size, having passed on less than maxBytes when holding the last chunk', async () => {
    const verifier = new VerifyingStream({ expected: sha256Digest(digest), maxBytes: 10, holdLastChunk: true });
    const got: Buffer[] = [];
    await expect(pipeline(Readable.from([bytes.subarray(0, 6), bytes.subarray(6, 9), bytes.subarray(9)]), verifier, collect(got))).rejects.toBeInstanceOf(SizeLimitError);
    expect(Buffer.concat(got).length).toBeLessThanOrEqual(10);
    expect([verifier.tooLarge, verifier.mismatch]).toEqual([true, false]);
  });
});
