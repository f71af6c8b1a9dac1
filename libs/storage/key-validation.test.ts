import { describe, expect, it } from 'vitest';
import { InvalidBlobKeyError } from './errors.js';
import { assertValidKey } from './key-validation.js';
import { blobKey, metadataKey } from './keys.js';

describe('assertValidKey', () => {
  it('accepts the keys Orchard builds', () => {
    const sha = 'ab'.repeat(32);
    expect(() => assertValidKey(blobKey(sha))).not.toThrow();
    expect(() => assertValidKey(metadataKey(sha))).not.toThrow();
  });

  it.each(['', '..', '../x', 'a/../b', '/abs', 'a//b', 'a/', './a', 'a/.hidden', 'a\0b', 'a b', 'a\\b', 'ä', 'x'.repeat(1025)])('rejects %j', (key) => {
    expect(() => assertValidKey(key)).toThrow(InvalidBlobKeyError);
  });
});
