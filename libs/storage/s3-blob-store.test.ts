import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { CreateMultipartUploadCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestS3, testS3Client, type TestS3 } from '../../test/support/s3.js';
import { registerBlobStoreContract, type BlobStoreHarness } from './blob-store.contract.js';
import { StorageUnavailableError } from './errors.js';
import { blobKey } from './keys.js';
import { S3BlobStore } from './s3-blob-store.js';

const PART_SIZE = 5 * 1024 * 1024;

function storeFor(s3: TestS3): S3BlobStore {
  return new S3BlobStore({ ...s3, partSizeBytes: PART_SIZE, queueSize: 2 });
}

describe('S3BlobStore', () => {
  let s3: TestS3;
  let store: S3BlobStore;

  beforeAll(async () => {
    s3 = await startTestS3();
    store = storeFor(s3);
  });

  afterAll(async () => {
    await store?.close();
    await s3?.stop();
  });

  const harness = (): BlobStoreHarness => ({
    store,
    pendingWrites: () => s3.pendingMultipartUploads(),
    partSizeBytes: PART_SIZE,
  });
  registerBlobStoreContract(harness);

  it('gives a presigned URL that downloads the object with its file name', async () => {
    const bytes = randomBytes(20_000);
    const key = blobKey(createHash('sha256').update(bytes).digest('hex'));
    await store.put(key, Readable.from([bytes]), { contentType: 'application/zip' });
    const url = await store.presignedUrl(key, { expiresInSeconds: 60, filename: 'demo-1.0-py3-none-any.whl' });
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-disposition')).toContain('filename="demo-1.0-py3-none-any.whl"');
    expect(Buffer.from(await response.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('refuses part sizes S3 would reject', () => {
    expect(() => new S3BlobStore({ ...s3, partSizeBytes: 1024 })).toThrow(RangeError);
    expect(() => new S3BlobStore({ ...s3, queueSize: 0 })).toThrow(RangeError);
  });

  it('reports StorageUnavailableError when the endpoint is down', async () => {
    const doomed = await startTestS3();
    const unreachable = storeFor(doomed);
    try {
      await unreachable.check();
      await doomed.stop();
      await expect(unreachable.check()).rejects.toBeInstanceOf(StorageUnavailableError);
      await expect(unreachable.stat(blobKey('0'.repeat(64)))).rejects.toBeInstanceOf(StorageUnavailableError);
      await expect(unreachable.get(blobKey('0'.repeat(64)))).rejects.toBeInstanceOf(StorageUnavailableError);
      const put = unreachable.put(blobKey('0'.repeat(64)), Readable.from([Buffer.from('x')]));
      await expect(put).rejects.toBeInstanceOf(StorageUnavailableError);
    } finally {
      await unreachable.close();
      await doomed.stop();
    }
  });

  it('aborts multipart uploads a killed writer left behind, started before the cutoff', async () => {
    const client = testS3Client(s3);
    try {
      const key = blobKey('a'.repeat(64));
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: key }));
      await client.send(new UploadPartCommand({ Bucket: s3.bucket, Key: key, UploadId, PartNumber: 1, Body: Buffer.alloc(PART_SIZE) }));
      expect(await s3.pendingMultipartUploads()).toBe(1);
      // Started after the cutoff: a write that may still be running.
      expect(await store.removeOrphans(new Date(Date.now() - 60_000))).toEqual({ removed: 0, bytes: 0 });
      expect(await s3.pendingMultipartUploads()).toBe(1);
      expect(await store.removeOrphans(new Date(Date.now() + 60_000))).toEqual({ removed: 1, bytes: 0 });
      expect(await s3.pendingMultipartUploads()).toBe(0);
      expect(await store.stat(key)).toBeNull();
    } finally {
      client.destroy();
    }
  });

  it('reports StorageUnavailableError for a missing bucket', async () => {
    const missing = new S3BlobStore({ ...s3, bucket: 'no-such-bucket' });
    try {
      await expect(missing.check()).rejects.toBeInstanceOf(StorageUnavailableError);
    } finally {
      await missing.close();
    }
  });
});
