import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { useContainers } from './containers.js';

/** A real S3 endpoint with one empty bucket, for one test file. */
export interface TestS3 {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: true;
  /** Multipart uploads started in the bucket and neither completed nor aborted. */
  pendingMultipartUploads(): Promise<number>;
  /** Stops the server (or container) and removes its data; idempotent. */
  stop(): Promise<void>;
}

const REGION = 'us-east-1';
const MINIO_IMAGE = 'minio/minio:RELEASE.2024-12-18T13-15-44Z';

/**
 * Starts an S3 endpoint: MinIO in a container when containers are in use (`ORCHARD_TESTCONTAINERS=1`,
 * or a reachable Docker engine), otherwise s3rver in this process on 127.0.0.1 and a random port.
 */
export async function startTestS3(): Promise<TestS3> {
  return (await useContainers()) ? startMinio() : startS3rver();
}

/** s3rver has no constructor types; only what is used here. */
interface S3rverInstance {
  configureBuckets(): Promise<void>;
  callback(): RequestListener;
  logger?: { close(): void };
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance;

async function startS3rver(): Promise<TestS3> {
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;
  const directory = await mkdtemp(path.join(tmpdir(), 'orchard-s3rver-'));
  const bucket = `orchard-test-${randomBytes(4).toString('hex')}`;
  const s3rver = new S3rver({ silent: true, directory, vhostBuckets: false, configureBuckets: [{ name: bucket }] });
  await s3rver.configureBuckets();
  const uploadsDir = path.join(directory, bucket, '._S3rver_uploads');
  const server = createServer(withListMultipartUploads(withAbortMultipartUpload(s3rver.callback(), uploadsDir), bucket, uploadsDir));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    region: REGION,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    forcePathStyle: true,
    async pendingMultipartUploads() {
      try {
        return (await readdir(uploadsDir)).length;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
        throw error;
      }
    },
    stop() {
      stopped ??= (async () => {
        await closeServer(server);
        s3rver.logger?.close();
        await rm(directory, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/**
 * s3rver 3.x implements multipart uploads but not AbortMultipartUpload (it answers
 * MethodNotAllowed), which real S3 and MinIO support; answer it here like S3 does (204).
 */
function withAbortMultipartUpload(next: RequestListener, uploadsDir: string): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const uploadId = url.searchParams.get('uploadId');
    if (req.method !== 'DELETE' || uploadId === null) {
      next(req, res);
      return;
    }
    req.resume();
    if (!/^[0-9a-f]+$/.test(uploadId)) {
      res.writeHead(400).end();
      return;
    }
    rm(path.join(uploadsDir, uploadId), { recursive: true, force: true }).then(
      () => res.writeHead(204).end(),
      () => res.writeHead(500).end(),
    );
  };
}

/**
 * s3rver 3.x does not implement ListMultipartUploads either (NotImplemented); answer it like S3 from
 * its uploads directory (one folder per upload holding the key; its creation time as `Initiated`).
 */
function withListMultipartUploads(next: RequestListener, bucket: string, uploadsDir: string): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' || url.pathname.replace(/\/$/, '') !== `/${bucket}` || !url.searchParams.has('uploads')) {
      next(req, res);
      return;
    }
    req.resume();
    listUploads(uploadsDir).then(
      (uploads) => {
        const entries = uploads.map((u) => `<Upload><Key>${u.key}</Key><UploadId>${u.id}</UploadId><Initiated>${u.initiated.toISOString()}</Initiated></Upload>`);
        const body = `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>${bucket}</Bucket><IsTruncated>false</IsTruncated>${entries.join('')}</ListMultipartUploadsResult>`;
        res.writeHead(200, { 'content-type': 'application/xml' }).end(body);
      },
      () => res.writeHead(500).end(),
    );
  };
}

async function listUploads(uploadsDir: string): Promise<Array<{ id: string; key: string; initiated: Date }>> {
  let ids: string[];
  try {
    ids = await readdir(uploadsDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return Promise.all(ids.map(async (id) => ({ id, key: await readFile(path.join(uploadsDir, id, 'key'), 'utf8'), initiated: (await stat(path.join(uploadsDir, id))).mtime })));
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

async function startMinio(): Promise<TestS3> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const accessKeyId = 'orchard';
  const secretAccessKey = 'orchard-secret';
  const container = await new GenericContainer(MINIO_IMAGE)
    .withCommand(['server', '/data'])
    .withEnvironment({ MINIO_ROOT_USER: accessKeyId, MINIO_ROOT_PASSWORD: secretAccessKey })
    .withExposedPorts(9000)
    .withWaitStrategy(Wait.forHttp('/minio/health/live', 9000))
    .start();
  const endpoint = `http://${container.getHost()}:${container.getMappedPort(9000)}`;
  const bucket = `orchard-test-${randomBytes(4).toString('hex')}`;
  const client = new S3Client({
    endpoint,
    region: REGION,
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  let stopped: Promise<void> | undefined;
  return {
    endpoint,
    bucket,
    region: REGION,
    accessKeyId,
    secretAccessKey,
    forcePathStyle: true,
    async pendingMultipartUploads() {
      const listing = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      return listing.Uploads?.length ?? 0;
    },
    stop() {
      stopped ??= (async () => {
        client.destroy();
        await container.stop();
      })();
      return stopped;
    },
  };
}

/** An S3 client of the test endpoint, for tests that look into the bucket themselves; the caller destroys it. */
export function testS3Client(s3: TestS3): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
}

/** The environment that points Orchard's services at a test S3 endpoint (optionally through a proxy). */
export function s3ServiceEnv(s3: TestS3, endpoint: string = s3.endpoint): Record<string, string> {
  return {
    ORCHARD_STORAGE: 's3',
    S3_ENDPOINT: endpoint,
    S3_BUCKET: s3.bucket,
    S3_REGION: s3.region,
    S3_ACCESS_KEY_ID: s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    S3_FORCE_PATH_STYLE: 'true',
  };
}
