import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { parseByteSize } from './byte-size.js';
import { parseUpstreams, type UpstreamConfig } from './upstreams.js';
import { registeredProtocols } from '../protocol/index.js';
import { compileConfiguredViews, parseViewsText } from './view-rules.js';
import type { StorageSettings } from '../storage/create-blob-store.js';
import { parseRedisUrl, queuePrefixFor } from '../redis/index.js';

/** Thrown when the environment holds a bad value; the message names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
/** A Redis URL in one of the forms libs/redis accepts (the message says what is wrong, never the password). */
const redisUrl = z.string().superRefine((value, ctx) => {
  try {
    parseRedisUrl(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});
const byteSize = z.string().transform((text, ctx) => {
  const bytes = parseByteSize(text);
  if (bytes === undefined || bytes < 1) {
    ctx.addIssue({ code: 'custom', message: 'must be a size such as 500MB, 20GiB or a number of bytes' });
    return z.NEVER;
  }
  return bytes;
});
const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');

/** Path prefixes of Orchard's own routes, which no protocol may be served under. */
const RESERVED_PREFIXES = ['/simple', '/files', '/v', '/api', '/health', '/ready', '/metrics'];

/**
 * Every setting Orchard reads, with its default. Each variable is documented here and in the
 * README's configuration table.
 */
const schema = z.object({
  /** Gateway HTTP port. */
  ORCHARD_PORT: int(1, 65535).default(8080),
  /**
   * A second gateway port for operators: when set, `/metrics` and the admin API are served only
   * there (with `/health` and `/ready`), and ORCHARD_PORT answers 404 for them, so the public port
   * can be exposed as is. Unset (the single-machine default): everything on ORCHARD_PORT.
   */
  ORCHARD_GATEWAY_INTERNAL_PORT: int(1, 65535).optional(),
  /**
   * Gateway processes sharing ORCHARD_PORT (node:cluster; a primary forks them, restarts one that
   * dies and aggregates their metrics). Default: the machine's cores, at most 4; 1 runs one process.
   */
  ORCHARD_GATEWAY_PROCESSES: int(1, 64).default(() => Math.min(os.availableParallelism(), 4)),
  /** Address the gateway and workers bind to. */
  ORCHARD_HOST: z.string().min(1).default('0.0.0.0'),
  /** PostgreSQL; the database is created and migrated at start when missing (unless ORCHARD_MIGRATE=off). */
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).default('postgresql://postgres@127.0.0.1:5432/orchard'),
  /**
   * `auto`: each service creates and migrates the database in the background at start. `off`: a
   * service never runs DDL; it waits (unready, `migrations: pending`) until the migration Job or
   * `migrate-cli` has applied this release's migrations, so its database user needs no DDL rights.
   */
  ORCHARD_MIGRATE: z.enum(['auto', 'off']).default('auto'),
  /** Connections in each service's PostgreSQL pool. */
  ORCHARD_DB_POOL_SIZE: int(1, 500).default(10),
  /**
   * Redis for BullMQ (and for the cache unless ORCHARD_CACHE_REDIS_URL is set); run it with
   * `noeviction`. One server (`redis://`, `rediss://`), the master of a Sentinel set
   * (`redis+sentinel://host:port,…/<master>[/db]`) or a Cluster (`redis+cluster://host:port,…`):
   * see libs/redis/redis-url.ts.
   */
  REDIS_URL: redisUrl.default('redis://127.0.0.1:6379/0'),
  /**
   * Redis for the cache (pages, file maps, artifact records, locks, invalidation messages); default
   * REDIS_URL. Apart from the queues it can run with `maxmemory` and `allkeys-lru` (docs/cache-model.md).
   */
  ORCHARD_CACHE_REDIS_URL: redisUrl.optional(),
  /** Space-separated `name=url` PyPI upstreams, in priority order; default the protocol's public index. */
  ORCHARD_UPSTREAMS: z.string().optional(),
  /** Space-separated `name=url` npm registries, in priority order; default the public npm registry. */
  ORCHARD_NPM_UPSTREAMS: z.string().optional(),
  /** Where the gateway serves the npm registry API (`npm config set registry <public url><prefix>/`); default /npm. */
  ORCHARD_NPM_PREFIX: z
    .string()
    .regex(/^\/[a-z0-9][a-z0-9-]*$/, 'a slash and one path segment of lowercase letters, digits and dashes')
    .refine((prefix) => !RESERVED_PREFIXES.includes(prefix), `taken by Orchard's own routes (${RESERVED_PREFIXES.join(', ')})`)
    .optional(),
  /**
   * The gateway's URL as clients reach it (scheme, host, port, any path before Orchard's): npm
   * packuments carry absolute tarball URLs under it. Default http://localhost:<ORCHARD_PORT>.
   */
  ORCHARD_PUBLIC_URL: z
    .url({ protocol: /^https?$/ })
    .transform((url) => url.replace(/\/+$/, ''))
    .optional(),
  /** `fs` (a local directory) or `s3`. */
  ORCHARD_STORAGE: z.enum(['fs', 's3']).default('fs'),
  /** Root of the fs store. */
  ORCHARD_DATA_DIR: z.string().min(1).default('./data'),
  S3_ENDPOINT: z.url().optional(),
  S3_BUCKET: z.string().min(1).optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_FORCE_PATH_STYLE: bool.default(false),
  /** Files: `stream` through the gateway, or `redirect` to a presigned URL (s3 only). */
  ORCHARD_DOWNLOAD_MODE: z.enum(['stream', 'redirect']).default('stream'),
  /** Seconds a cached index page is fresh. */
  ORCHARD_INDEX_TTL: int(0, 365 * 86400).default(300),
  /** Seconds the root `/simple/` list (the union of every upstream's) is fresh; it is huge and changes slowly. */
  ORCHARD_ROOT_INDEX_TTL: int(0, 365 * 86400).default(6 * 3600),
  /** Seconds a page is kept after it turned stale, to serve when upstreams fail. */
  ORCHARD_INDEX_STALE_TTL: int(0, 365 * 86400).default(7 * 86400),
  /** Seconds a project that no upstream has is remembered as missing. */
  ORCHARD_MISSING_TTL: int(0, 86400).default(60),
  /**
   * Milliseconds a file request waits for its fetch job before streaming from upstream: well under
   * pip's own 15 s read timeout, so a client never waits on a silent socket that long.
   */
  ORCHARD_FETCH_WAIT_MS: int(0, 3_600_000).default(5_000),
  /** Largest file Orchard will fetch, in bytes. */
  ORCHARD_MAX_FILE_BYTES: int(1, Number.MAX_SAFE_INTEGER).default(20 * 1024 ** 3),
  /**
   * Largest upstream project page, in bytes (a larger one is refused with a 502 while it arrives,
   * nothing cached). The largest real public index pages list tens of thousands of files at roughly 500-600
   * bytes each (HTML or JSON), i.e. a few tens of MB; 64 MiB leaves margin while bounding what one
   * fill costs (a JSON page is parsed in one piece). At most 256 MiB: a body must fit one string.
   */
  ORCHARD_MAX_PAGE_BYTES: int(1024, 256 * 2 ** 20).default(64 * 2 ** 20),
  /**
   * Most files (links) an upstream project page may list; parsing stops at the first one past it
   * (502, nothing cached). Real pages list up to tens of thousands; 100,000 leaves margin while
   * bounding the memory and time of a fill.
   */
  ORCHARD_MAX_PAGE_FILES: int(1, 10_000_000).default(100_000),
  /**
   * Policy views of the configuration: `name:rule=value[,rule=value…]` items separated by spaces, a
   * JSON object of view name → rules, or `@<path>` of a file holding either (see
   * libs/config/view-rules.ts; checked with the other settings).
   */
  ORCHARD_VIEWS: z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return {};
      try {
        const views = parseViewsText(value.startsWith('@') ? readFileSync(value.slice(1), 'utf8') : value);
        // Checked here, before any process starts, so a bad view stops the service like any bad setting.
        compileConfiguredViews(views, registeredProtocols().primary);
        return views;
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
  /**
   * Seconds between reloads of the stored views whatever Redis says (a change whose announcement was
   * lost, or one written to PostgreSQL directly); announced changes apply within about a second.
   */
  ORCHARD_VIEW_REFRESH_S: int(1, 86_400).default(60),
  /** Bearer token for /api/v1/admin; admin endpoints are off without it. */
  ORCHARD_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  ORCHARD_FETCHER_PORT: int(1, 65535).default(9101),
  /**
   * Base URL gateways reach this fetcher's ops port at, to follow a download while it runs (default
   * `http://127.0.0.1:<ORCHARD_FETCHER_PORT>`; in Kubernetes the pod's IP, from the downward API).
   * `{hostname}` stands for the machine's host name (Docker Compose replicas).
   */
  ORCHARD_FETCHER_STREAM_URL: z
    .string()
    .regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, 'must be an http(s) URL')
    .optional(),
  /** Local directory a fetcher spools downloads in while they run (default: the OS temp directory). */
  ORCHARD_FETCHER_SPOOL_DIR: z.string().min(1).optional(),
  ORCHARD_EXTRACTOR_PORT: int(1, 65535).default(9102),
  /** Jobs each fetcher process runs at once. */
  ORCHARD_FETCHER_CONCURRENCY: int(1, 1000).default(8),
  /** Jobs each extractor process runs at once. */
  ORCHARD_EXTRACTOR_CONCURRENCY: int(1, 1000).default(4),
  /** CPU priority (nice, 0–19) the extractor lowers itself to, yielding to serving on a shared machine; 0 leaves it. */
  ORCHARD_EXTRACTOR_NICE: int(0, 19).default(10),
  /** Connections per upstream origin in each process. */
  ORCHARD_UPSTREAM_CONNECTIONS: int(1, 1000).default(16),
  ORCHARD_UPSTREAM_CONNECT_TIMEOUT_MS: int(1, 600_000).default(10_000),
  /** Milliseconds without a byte from upstream before a request fails. */
  ORCHARD_UPSTREAM_READ_TIMEOUT_MS: int(1, 3_600_000).default(30_000),
  ORCHARD_UPSTREAM_KEEPALIVE_MS: int(1, 3_600_000).default(60_000),
  /** Redirects followed for one upstream request. */
  ORCHARD_UPSTREAM_MAX_REDIRECTS: int(0, 20).default(5),
  /**
   * File URLs and redirects to private, loopback and link-local addresses are always refused unless
   * they stay on the upstream's own origin; this refuses them for the upstream's own origin (its
   * pages) too. Off by default: private indexes usually live on private networks.
   */
  ORCHARD_DENY_PRIVATE_NETWORKS: bool.default(false),
  /** Space- or comma-separated host names, IP addresses or CIDR ranges exempt from the private-address refusal. */
  ORCHARD_ALLOWED_HOSTS: z.string().default(''),
  /** Milliseconds a client may take to send a request's headers (slowloris guard). */
  ORCHARD_HTTP_HEADERS_TIMEOUT_MS: int(1_000, 600_000).default(30_000),
  /** Milliseconds a client connection may stay without any byte moving either way (stalled readers). */
  ORCHARD_HTTP_IDLE_TIMEOUT_MS: int(1_000, 3_600_000).default(120_000),
  /**
   * Milliseconds between a worker's stalled-job checks; a job whose worker died (lock expired after
   * twice this) is handed to another worker.
   */
  ORCHARD_JOB_STALLED_MS: int(500, 600_000).default(15_000),
  /** Prefix of every BullMQ queue key (lets tests and tenants share one Redis). */
  ORCHARD_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('orchard-bull'),
  /** Prefix of every cache key; the design's `orchard`. */
  ORCHARD_CACHE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('orchard'),
  ORCHARD_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * Milliseconds the gateway keeps a project page it just served as a fresh cache hit in its memo,
   * answering repeats of the same representation without Redis (0: pages are not kept). A page
   * changed in Redis (a refill) may be served from memory this long; an admin invalidation reaches
   * every gateway replica at once (pub/sub), and this long at most if its message is lost.
   */
  ORCHARD_PAGE_MEMO_MS: int(0, 60_000).default(1000),
  /**
   * Bytes the gateway's one in-process memo holds (lru-cache, least recently used dropped first):
   * fresh pages (for ORCHARD_PAGE_MEMO_MS), and small verified files (up to 1 MiB each) and PEP 658
   * metadata files read from storage, which never go stale (content-addressed). 0: off.
   */
  ORCHARD_MEMO_BYTES: int(0, 4 * 2 ** 30).default(64 * 2 ** 20),
  /**
   * Storage quota (a size: `500GB`, `2TiB`, bytes); unset: no quota. Past it, the fetcher's storage
   * job evicts the least recently served files (unreferenced ones first) down to the low-water mark.
   */
  ORCHARD_STORAGE_QUOTA: byteSize.optional(),
  /** Percent of the quota eviction brings usage down to (headroom before the next eviction). */
  ORCHARD_STORAGE_LOW_WATER: int(1, 100).default(90),
  /**
   * Seconds a file stays safe from eviction after it was last served or fetched; a download in
   * progress keeps renewing its file, so no client's stream is cut by an eviction.
   */
  ORCHARD_EVICTION_GRACE_S: z.coerce
    .number()
    .min(0.1)
    .max(30 * 86400)
    .default(600),
  /** Seconds between runs of the storage job (eviction check, orphan cleanup); fetches past the quota also start one. */
  ORCHARD_STORAGE_GC_INTERVAL_S: int(1, 86400).default(300),
  /** Seconds after which a write a killed fetcher left unfinished (fs `.tmp/`, S3 multipart upload) is removed. */
  ORCHARD_ORPHAN_AGE_S: int(60, 30 * 86400).default(6 * 3600),
  /** Milliseconds a service waits for in-flight work on SIGTERM. */
  ORCHARD_SHUTDOWN_TIMEOUT_MS: int(0, 600_000).default(25_000),
});

type Raw = z.infer<typeof schema>;

const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*$/;

/** A host name, an IPv4/IPv6 address, or an address with a /prefix (a CIDR range). */
function isAllowedHostEntry(entry: string): boolean {
  const [address = '', prefix, extra] = entry.split('/');
  if (extra !== undefined) return false;
  const family = isIP(address);
  if (prefix === undefined) return family !== 0 || HOST_NAME.test(entry);
  if (!/^\d{1,3}$/.test(prefix) || family === 0) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

export type { StorageSettings };

/** The one typed settings object every service builds its graph from. */
export interface Settings {
  host: string;
  gatewayPort: number;
  /** ORCHARD_GATEWAY_INTERNAL_PORT: where `/metrics` and the admin API are served instead of gatewayPort. */
  gatewayInternalPort?: number;
  /** ORCHARD_GATEWAY_PROCESSES: gateway processes sharing the port. */
  gatewayProcesses: number;
  /** ORCHARD_VIEWS: view name → rules as configured (checked here, compiled by the gateway's view registry). */
  views: Record<string, unknown>;
  /** ORCHARD_VIEW_REFRESH_S in milliseconds: stored views are reloaded at least this often. */
  viewRefreshMs: number;
  fetcherPort: number;
  fetcherStreamUrl: string;
  fetcherSpoolDir: string;
  extractorPort: number;
  databaseUrl: string;
  /** ORCHARD_MIGRATE: whether services migrate the database themselves or wait for it to be migrated. */
  migrate: 'auto' | 'off';
  dbPoolSize: number;
  redisUrl: string;
  /** ORCHARD_CACHE_REDIS_URL, or REDIS_URL when unset. */
  cacheRedisUrl: string;
  /** The primary protocol's upstreams (ORCHARD_UPSTREAMS): `protocols[0].upstreams`. */
  upstreams: UpstreamConfig[];
  /** Every protocol the gateway serves, the primary first: where, and from which upstreams. */
  protocols: ProtocolSettings[];
  /** ORCHARD_PUBLIC_URL without a trailing slash. */
  publicUrl: string;
  storage: StorageSettings;
  downloadMode: 'stream' | 'redirect';
  indexTtlSeconds: number;
  indexStaleTtlSeconds: number;
  rootIndexTtlSeconds: number;
  missingTtlSeconds: number;
  fetchWaitMs: number;
  maxFileBytes: number;
  maxPageBytes: number;
  maxPageFiles: number;
  adminToken?: string;
  fetcherConcurrency: number;
  extractorConcurrency: number;
  extractorNice: number;
  upstreamHttp: {
    connections: number;
    connectTimeoutMs: number;
    readTimeoutMs: number;
    keepAliveMs: number;
    maxRedirects: number;
    denyPrivateNetworks: boolean;
    allowedHosts: string[];
  };
  httpHeadersTimeoutMs: number;
  httpIdleTimeoutMs: number;
  jobStalledMs: number;
  /** ORCHARD_QUEUE_PREFIX, hash-tagged (`{…}`) when REDIS_URL is a Cluster. */
  queuePrefix: string;
  cachePrefix: string;
  logLevel: Raw['ORCHARD_LOG_LEVEL'];
  shutdownTimeoutMs: number;
  pageMemoMs: number;
  memoBytes: number;
  storageLifecycle: StorageLifecycleSettings;
}

/** One protocol as this deployment serves it. */
export interface ProtocolSettings {
  /** A registered protocol's name. */
  name: string;
  /** The path its routes live under: '' for PyPI (`/simple/`, `/files/`), ORCHARD_NPM_PREFIX for npm. */
  prefix: string;
  /** Its configured upstreams, in priority order. */
  upstreams: UpstreamConfig[];
}

/** The storage quota and the storage job's timings. */
export interface StorageLifecycleSettings {
  /** ORCHARD_STORAGE_QUOTA in bytes; undefined: no quota (nothing is evicted, serves are not tracked). */
  quotaBytes?: number;
  /** Usage eviction brings it down to (ORCHARD_STORAGE_LOW_WATER percent of the quota). */
  lowWaterBytes?: number;
  evictionGraceMs: number;
  gcIntervalMs: number;
  orphanAgeMs: number;
}

/** Reads and validates the environment once; throws ConfigError naming every bad variable. */
export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const input = Object.fromEntries(Object.keys(schema.shape).map((k) => [k, env[k] === '' ? undefined : env[k]]));
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const raw = result.data;
  const problems: string[] = [];
  const protocols = protocolSettings(raw, env, problems);
  const storage = storageSettings(raw, problems);
  if (raw.ORCHARD_DOWNLOAD_MODE === 'redirect' && raw.ORCHARD_STORAGE !== 's3') {
    problems.push('ORCHARD_DOWNLOAD_MODE: redirect needs ORCHARD_STORAGE=s3');
  }
  const allowedHosts = raw.ORCHARD_ALLOWED_HOSTS.split(/[\s,]+/).filter(Boolean);
  for (const host of allowedHosts) {
    if (!isAllowedHostEntry(host)) problems.push(`ORCHARD_ALLOWED_HOSTS: "${host}" is not a host name, IP address or CIDR range`);
  }
  if (raw.ORCHARD_GATEWAY_INTERNAL_PORT === raw.ORCHARD_PORT) problems.push('ORCHARD_GATEWAY_INTERNAL_PORT: must differ from ORCHARD_PORT');
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    host: raw.ORCHARD_HOST,
    gatewayPort: raw.ORCHARD_PORT,
    gatewayInternalPort: raw.ORCHARD_GATEWAY_INTERNAL_PORT,
    gatewayProcesses: raw.ORCHARD_GATEWAY_PROCESSES,
    fetcherPort: raw.ORCHARD_FETCHER_PORT,
    fetcherStreamUrl: (raw.ORCHARD_FETCHER_STREAM_URL ?? `http://127.0.0.1:${raw.ORCHARD_FETCHER_PORT}`).replace('{hostname}', os.hostname()),
    fetcherSpoolDir: path.resolve(raw.ORCHARD_FETCHER_SPOOL_DIR ?? path.join(os.tmpdir(), 'orchard-spool')),
    extractorPort: raw.ORCHARD_EXTRACTOR_PORT,
    databaseUrl: raw.DATABASE_URL,
    migrate: raw.ORCHARD_MIGRATE,
    dbPoolSize: raw.ORCHARD_DB_POOL_SIZE,
    redisUrl: raw.REDIS_URL,
    cacheRedisUrl: raw.ORCHARD_CACHE_REDIS_URL ?? raw.REDIS_URL,
    upstreams: protocols[0]!.upstreams,
    protocols,
    publicUrl: raw.ORCHARD_PUBLIC_URL ?? `http://localhost:${raw.ORCHARD_PORT}`,
    storage: storage!,
    downloadMode: raw.ORCHARD_DOWNLOAD_MODE,
    indexTtlSeconds: raw.ORCHARD_INDEX_TTL,
    indexStaleTtlSeconds: raw.ORCHARD_INDEX_STALE_TTL,
    rootIndexTtlSeconds: raw.ORCHARD_ROOT_INDEX_TTL,
    missingTtlSeconds: raw.ORCHARD_MISSING_TTL,
    fetchWaitMs: raw.ORCHARD_FETCH_WAIT_MS,
    maxFileBytes: raw.ORCHARD_MAX_FILE_BYTES,
    maxPageBytes: raw.ORCHARD_MAX_PAGE_BYTES,
    maxPageFiles: raw.ORCHARD_MAX_PAGE_FILES,
    adminToken: raw.ORCHARD_ADMIN_TOKEN,
    views: raw.ORCHARD_VIEWS,
    viewRefreshMs: raw.ORCHARD_VIEW_REFRESH_S * 1000,
    fetcherConcurrency: raw.ORCHARD_FETCHER_CONCURRENCY,
    extractorConcurrency: raw.ORCHARD_EXTRACTOR_CONCURRENCY,
    extractorNice: raw.ORCHARD_EXTRACTOR_NICE,
    upstreamHttp: {
      connections: raw.ORCHARD_UPSTREAM_CONNECTIONS,
      connectTimeoutMs: raw.ORCHARD_UPSTREAM_CONNECT_TIMEOUT_MS,
      readTimeoutMs: raw.ORCHARD_UPSTREAM_READ_TIMEOUT_MS,
      keepAliveMs: raw.ORCHARD_UPSTREAM_KEEPALIVE_MS,
      maxRedirects: raw.ORCHARD_UPSTREAM_MAX_REDIRECTS,
      denyPrivateNetworks: raw.ORCHARD_DENY_PRIVATE_NETWORKS,
      allowedHosts: allowedHosts,
    },
    httpHeadersTimeoutMs: raw.ORCHARD_HTTP_HEADERS_TIMEOUT_MS,
    httpIdleTimeoutMs: raw.ORCHARD_HTTP_IDLE_TIMEOUT_MS,
    jobStalledMs: raw.ORCHARD_JOB_STALLED_MS,
    queuePrefix: queuePrefixFor(parseRedisUrl(raw.REDIS_URL), raw.ORCHARD_QUEUE_PREFIX),
    cachePrefix: raw.ORCHARD_CACHE_PREFIX,
    logLevel: raw.ORCHARD_LOG_LEVEL,
    shutdownTimeoutMs: raw.ORCHARD_SHUTDOWN_TIMEOUT_MS,
    pageMemoMs: raw.ORCHARD_PAGE_MEMO_MS,
    memoBytes: raw.ORCHARD_MEMO_BYTES,
    storageLifecycle: {
      ...(raw.ORCHARD_STORAGE_QUOTA === undefined
        ? {}
        : { quotaBytes: raw.ORCHARD_STORAGE_QUOTA, lowWaterBytes: Math.floor((raw.ORCHARD_STORAGE_QUOTA * raw.ORCHARD_STORAGE_LOW_WATER) / 100) }),
      evictionGraceMs: Math.round(raw.ORCHARD_EVICTION_GRACE_S * 1000),
      gcIntervalMs: raw.ORCHARD_STORAGE_GC_INTERVAL_S * 1000,
      orphanAgeMs: raw.ORCHARD_ORPHAN_AGE_S * 1000,
    },
  };
}

/** Each registered protocol's prefix and upstreams, from the variables its adapter names. */
function protocolSettings(raw: Raw, env: NodeJS.ProcessEnv, problems: string[]): ProtocolSettings[] {
  const values = raw as Record<string, unknown>;
  const registry = registeredProtocols();
  return registry.names().map((name) => {
    const adapter = registry.get(name);
    const { upstreamsVariable, prefixVariable, defaultPrefix } = adapter.configuration;
    const prefix = prefixVariable === undefined ? defaultPrefix : ((values[prefixVariable] as string | undefined) ?? defaultPrefix);
    let upstreams: UpstreamConfig[] = [];
    try {
      upstreams = parseUpstreams((values[upstreamsVariable] as string | undefined) ?? adapter.defaultUpstreams, env, name);
    } catch (err) {
      problems.push(`${upstreamsVariable}: ${(err as Error).message}`);
    }
    return { name, prefix, upstreams };
  });
}

function storageSettings(raw: Raw, problems: string[]): StorageSettings | undefined {
  if (raw.ORCHARD_STORAGE === 'fs') return { kind: 'fs', root: path.resolve(raw.ORCHARD_DATA_DIR) };
  if (!raw.S3_BUCKET) {
    problems.push('S3_BUCKET: required when ORCHARD_STORAGE=s3');
    return undefined;
  }
  return {
    kind: 's3',
    endpoint: raw.S3_ENDPOINT,
    bucket: raw.S3_BUCKET,
    region: raw.S3_REGION,
    accessKeyId: raw.S3_ACCESS_KEY_ID,
    secretAccessKey: raw.S3_SECRET_ACCESS_KEY,
    forcePathStyle: raw.S3_FORCE_PATH_STYLE,
  };
}

/** For entry points: load settings or print the problems and exit(2). */
export function loadSettingsOrExit(env: NodeJS.ProcessEnv = process.env): Settings {
  try {
    return loadSettings(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`orchard: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}
