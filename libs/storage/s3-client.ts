import http from 'node:http';
import https from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';

/** How to reach an S3-compatible endpoint. */
export interface S3ConnectionOptions {
  /** Custom endpoint (MinIO, s3rver, …); AWS's own endpoint when unset. */
  endpoint?: string;
  region: string;
  /** Static credentials; the SDK's default provider chain (env, profile, instance role) when unset. */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** `https://host/bucket/key` instead of `https://bucket.host/key`; needed by most self-hosted stores. */
  forcePathStyle: boolean;
  /** Upper bound on open connections to the endpoint. Default 64. */
  maxSockets?: number;
}

const DEFAULT_MAX_SOCKETS = 64;
const CONNECT_TIMEOUT_MS = 5_000;
// Idle time on a socket, not a whole-request limit: large downloads may legitimately take hours.
const SOCKET_IDLE_TIMEOUT_MS = 120_000;

/** An S3 client on keep-alive agents with bounded sockets; `client.destroy()` closes them. */
export function createS3Client(options: S3ConnectionOptions): S3Client {
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? DEFAULT_MAX_SOCKETS };
  const credentials =
    options.accessKeyId !== undefined && options.secretAccessKey !== undefined ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey } : undefined;
  return new S3Client({
    region: options.region,
    forcePathStyle: options.forcePathStyle,
    ...(options.endpoint !== undefined && { endpoint: options.endpoint }),
    ...(credentials && { credentials }),
    // Orchard verifies sha256 itself; the SDK's default CRC checksums (3.729+) are rejected or
    // mishandled by several S3-compatible servers.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      httpAgent: new http.Agent(agentOptions),
      httpsAgent: new https.Agent(agentOptions),
      connectionTimeout: CONNECT_TIMEOUT_MS,
      socketTimeout: SOCKET_IDLE_TIMEOUT_MS,
    },
  });
}
