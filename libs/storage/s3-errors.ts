import { StorageError, StorageUnavailableError } from './errors.js';

interface ServiceErrorShape {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

function shape(error: unknown): ServiceErrorShape {
  return typeof error === 'object' && error !== null ? (error as ServiceErrorShape) : {};
}

/** HTTP status of an S3 service error, if the endpoint answered at all. */
export function s3Status(error: unknown): number | undefined {
  return shape(error).$metadata?.httpStatusCode;
}

/** The object (or, for HEAD, anything) does not exist. */
export function isS3NotFound(error: unknown): boolean {
  const { name } = shape(error);
  return name === 'NoSuchKey' || name === 'NotFound' || s3Status(error) === 404;
}

/** The endpoint does not implement the request (s3rver and some gateways: ListMultipartUploads). */
export function isS3NotImplemented(error: unknown): boolean {
  return shape(error).name === 'NotImplemented' || s3Status(error) === 501;
}

/** The endpoint answered 416 to a ranged GET. */
export function isS3InvalidRange(error: unknown): boolean {
  return shape(error).name === 'InvalidRange' || s3Status(error) === 416;
}

/**
 * Orchard's own errors and aborts pass through; anything else from the SDK (network failure,
 * timeout, 5xx, denied credentials, missing bucket) means the store cannot be used right now.
 */
export function toS3StorageError(error: unknown, action: string): unknown {
  if (error instanceof StorageError || shape(error).name === 'AbortError') return error;
  const { name, message } = shape(error);
  const status = s3Status(error);
  const detail = [name, status && `HTTP ${status}`, message].filter(Boolean).join(': ');
  return new StorageUnavailableError(`S3 ${action} failed: ${detail || String(error)}`, { cause: error });
}
