import { describe, expect, it } from 'vitest';
import { attachmentDisposition } from './content-disposition.js';
import { createBlobStore } from './create-blob-store.js';
import { FsBlobStore } from './fs-blob-store.js';
import { LazyS3BlobStore } from './lazy-s3-blob-store.js';

describe('createBlobStore', () => {
  it('builds the store the settings name', async () => {
    const fs = createBlobStore({ kind: 'fs', root: '/tmp/orchard-unused' });
    expect(fs).toBeInstanceOf(FsBlobStore);
    expect(fs.kind).toBe('fs');
    expect(fs.presignedUrl).toBeUndefined();
    const s3 = createBlobStore({ kind: 's3', bucket: 'b', region: 'us-east-1', forcePathStyle: true });
    expect(s3).toBeInstanceOf(LazyS3BlobStore);
    expect(s3.presignedUrl).toBeTypeOf('function');
    expect(s3.kind).toBe('s3');
    await Promise.all([fs.close(), s3.close(), s3.close()]);
  });
});

describe('attachmentDisposition', () => {
  it('quotes an ASCII fallback and keeps the exact name in filename*', () => {
    expect(attachmentDisposition('demo-1.0.tar.gz')).toBe(`attachment; filename="demo-1.0.tar.gz"; filename*=UTF-8''demo-1.0.tar.gz`);
    expect(attachmentDisposition('a"b\\ü.whl')).toBe(`attachment; filename="a_b__.whl"; filename*=UTF-8''a%22b%5C%C3%BC.whl`);
  });
});
