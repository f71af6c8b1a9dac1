import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { DefaultJobOptions } from 'bullmq';
import { isRegisteredProtocol } from '../protocol/index.js';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
/** A registered protocol's name: workers look the job's adapter up by it. */
const protocol = z.string().refine(isRegisteredProtocol, { message: 'not a registered protocol' });

/**
 * `fetch`: download one file from its upstream into storage. Job id: see {@link fetchJobId}.
 * `sha256` is the file's content identity (64 hex, its storage key); `digest`, when given, is what
 * the bytes are verified against instead of that sha256 (npm's sha512, of which the identity is the
 * first 256 bits).
 */
export const fetchJobSchema = z.object({
  protocol,
  sha256,
  digest: z
    .object({
      algorithm: z.enum(['sha256', 'sha512', 'sha1']),
      hex: z.string().regex(/^(?:[0-9a-f]{40}|[0-9a-f]{64}|[0-9a-f]{128})$/),
    })
    .optional(),
  project: z.string().min(1).max(200),
  filename: z.string().min(1).max(400),
  url: z.url(),
  upstream: z.string().min(1),
});
export type FetchJob = z.infer<typeof fetchJobSchema>;

/** `extract`: read one stored file's core metadata. Job id = the artifact's sha256. */
export const extractJobSchema = z.object({
  protocol,
  sha256,
  project: z.string().min(1).max(200),
  filename: z.string().min(1).max(400),
});
export type ExtractJob = z.infer<typeof extractJobSchema>;

/** `refresh`: revalidate one project's page in the background. Job id = `<protocol>-<project>`. */
export const refreshJobSchema = z.object({
  protocol,
  project: z.string().min(1).max(200),
});
export type RefreshJob = z.infer<typeof refreshJobSchema>;

/**
 * `pages`: fill one project page, or the root list, from the upstreams (run by every gateway's
 * worker). Callers who saw the same page share one job: see {@link pageFillJobId}.
 */
export const pageFillJobSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('project'),
    protocol,
    project: z.string().min(1).max(200),
    /** `fetchedAt` of the page the caller saw (0: none); a page newer than that answers the job. */
    seen: z.number().int().nonnegative(),
    /** The upstream configuration generation the caller saw (part of the id only). */
    generation: z.string().max(100).optional(),
    /** Whether the owner upstream may answer with a 304 (the caller has a current page). */
    revalidate: z.boolean(),
  }),
  z.object({ kind: z.literal('root'), protocol, seen: z.number().int().nonnegative() }),
]);
export type PageFillJob = z.infer<typeof pageFillJobSchema>;

/**
 * Result of a page fill job. An upstream failure completes the job with its classification (it is
 * not a job failure: every waiter rethrows it as the same error, e.g. a timeout stays a 504).
 */
export type PageFillResult<Meta = unknown> = { ok: true; meta: Meta } | { ok: false; failure: string; status?: number; message: string };

/**
 * A page fill job's id: what makes two fills the same — protocol, project (or the root list), the
 * upstream configuration generation, and the `fetchedAt` of the page the callers saw. A later
 * staleness (a newer `seen`) is a new job. BullMQ ids may not contain `:`, hence the encoding.
 */
export function pageFillJobId(job: PageFillJob): string {
  if (job.kind === 'root') return `${job.protocol}/root/${job.seen}`;
  return `${job.protocol}/project/${job.generation ?? '-'}/${encodeURIComponent(job.project)}/${job.seen}`;
}

/**
 * `storage`: one run of the storage job (evict past the quota, remove orphaned writes), one at a
 * time across every fetcher. `scheduled` runs come from its job scheduler; a download while a
 * quota is set adds `usage`; a run that leaves usage over the quota because what it could take was
 * still in its grace period adds a delayed `followup`; `npm run gc` adds `manual` with a run id of
 * its own. Job id = the trigger (and run id); a `usage` run is deduplicated under its trigger instead
 * (see `Producers.addStorage`): it waits once however often fetches pull it, and runs again after an
 * active one.
 */
export const storageJobSchema = z.object({
  trigger: z.enum(['scheduled', 'usage', 'followup', 'manual']),
  runId: z
    .string()
    .regex(/^[a-z0-9]{1,40}$/)
    .optional(),
});
export type StorageJob = z.infer<typeof storageJobSchema>;

/** Result of a completed fetch job. */
export interface FetchResult {
  sha256: string;
  size: number;
}

/**
 * Progress a fetch job reports once the file is verified and in storage, before it records it in
 * PostgreSQL and queues its extraction: clients waiting for the file are served from that moment.
 */
export interface FetchStored {
  stored: true;
  size: number;
}

/**
 * Progress a fetch job reports as soon as the upstream answered: waiting clients follow the download
 * as it arrives, from the fetcher that owns it (see `InflightDownloads` in services/fetcher).
 */
export interface FetchStreaming {
  /** Where the bytes can be read while they arrive (`?offset=N` to start later). */
  streaming: string;
  /** The upstream's Content-Length, when it sent one; the verified size once `verified`. */
  size?: number;
  /**
   * Every byte is there and matched the sha256 (before the store made the file durable): the
   * stream ends at once with the whole, verified file, so waiting clients need not wait for storage.
   */
  verified?: boolean;
}

/** Whether a job's progress value is {@link FetchStreaming}. */
export function isFetchStreaming(progress: unknown): progress is FetchStreaming {
  return typeof progress === 'object' && progress !== null && typeof (progress as { streaming?: unknown }).streaming === 'string';
}

/** Whether a job's progress value is {@link FetchStored}. */
export function isFetchStored(progress: unknown): progress is FetchStored {
  return typeof progress === 'object' && progress !== null && (progress as { stored?: unknown }).stored === true;
}

/**
 * A fetch job is one listing's download: the file's sha256, then a digest of the upstream, URL and
 * file name the listing gives. Concurrent clients of one listing share one job (one upstream GET);
 * a download that failed (a wrong URL, a host serving other bytes) answers only requests for that
 * same listing, never another project's or upstream's listing of the same sha256.
 */
export function fetchJobId(job: Pick<FetchJob, 'sha256' | 'upstream' | 'url' | 'filename'>): string {
  const listing = createHash('sha256').update(`${job.upstream}\n${job.url}\n${job.filename}`).digest('hex').slice(0, 16);
  return `${job.sha256}-${listing}`;
}

/** Each queue declared once: name, payload schema, job options and deterministic job id. */
export const queues = {
  fetch: {
    name: 'fetch',
    schema: fetchJobSchema,
    jobId: fetchJobId,
    options: {
      attempts: 5,
      backoff: { type: 'exponential', delay: 1_000 },
      removeOnComplete: { age: 3600, count: 10_000 },
      // A failed file (hash mismatch, 404) stays failed briefly so a burst of requests does not
      // hammer the upstream; then the id frees up and a later request tries again.
      removeOnFail: { age: 60, count: 10_000 },
    } satisfies DefaultJobOptions,
  },
  extract: {
    name: 'extract',
    schema: extractJobSchema,
    jobId: (job: ExtractJob) => job.sha256,
    options: {
      attempts: 3,
      backoff: { type: 'exponential', delay: 2_000 },
      removeOnComplete: { age: 3600, count: 10_000 },
      removeOnFail: { age: 7 * 86400, count: 10_000 },
    } satisfies DefaultJobOptions,
  },
  refresh: {
    name: 'refresh',
    schema: refreshJobSchema,
    jobId: (job: RefreshJob) => `${job.protocol}-${job.project}`,
    options: {
      attempts: 1,
      removeOnComplete: true,
      removeOnFail: true,
    } satisfies DefaultJobOptions,
  },
  pages: {
    name: 'pages',
    schema: pageFillJobSchema,
    jobId: pageFillJobId,
    options: {
      attempts: 1,
      // Removed as soon as it ends: its result (the page) is in the cache Redis, where a caller
      // arriving later finds it (a new job with the same id answers from there without asking the
      // upstream), and a kept failure would answer later callers who should ask again.
      removeOnComplete: true,
      removeOnFail: true,
    } satisfies DefaultJobOptions,
  },
  storage: {
    name: 'storage',
    schema: storageJobSchema,
    jobId: (job: StorageJob) => (job.runId === undefined ? job.trigger : `${job.trigger}-${job.runId}`),
    options: {
      attempts: 1,
      // Gone once done: the next pull of the same trigger is a new run.
      removeOnComplete: true,
      removeOnFail: true,
    } satisfies DefaultJobOptions,
  },
} as const;

export type QueueName = keyof typeof queues;
