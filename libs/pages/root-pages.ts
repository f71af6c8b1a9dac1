import { createHash, type Hash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBrotliCompress, createGzip, constants as zlib } from 'node:zlib';
import { SingleFlight, type RootIndexCache, type RootMeta, type RootVariant } from '../cache/index.js';
import type { UpstreamConfig } from '../config/index.js';
import { UpstreamError, asUpstreamError, type UpstreamClient } from '../http/index.js';
import { errorReason, type Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import type { ProtocolAdapter, RootEntry } from '../protocol/types.js';
import type { PageFillJob } from '../queue/index.js';
import { fillFailure, type HandledFill, type PageFillQueue } from './page-fill-queue.js';
import { isRedisUnavailable, type CacheState } from './project-pages.js';

export interface RootPagesDeps {
  protocol: ProtocolAdapter;
  cache: RootIndexCache;
  http: UpstreamClient;
  upstreams: () => Promise<UpstreamConfig[]>;
  /** Seconds the list is fresh. */
  ttlSeconds: number;
  /** Seconds it is kept after that, served while a refill runs or when upstreams fail. */
  staleTtlSeconds: number;
  /** Shares fills across processes and replicas (`pages` jobs); without it, within the process only. */
  fills?: PageFillQueue;
  metrics: Metrics;
  logger: Logger;
}

export type RootAnswer =
  /** A cached version: length known, body streamed out of Redis. */
  | { kind: 'cached'; meta: RootMeta; cache: CacheState; length: number; body: () => AsyncIterable<Buffer> }
  /** Redis is down: rendered straight from the upstreams' lists, identity only, length unknown. */
  | { kind: 'uncached'; body: Iterable<Buffer> };

/** Largest upstream root list accepted (the largest public index's HTML list is a few tens of MiB). */
export const MAX_ROOT_BYTES = 512 * 1024 * 1024;
/** A fill may take this long (a public index's list is tens of MiB): callers wait for a shared one that long, and unpublished bodies live as long. */
const FILL_MS = 10 * 60_000;
/** Redis APPENDs carry at least this much (fewer round trips than one per rendered chunk). */
const APPEND_BYTES = 256 * 1024;

/**
 * The root `/simple/` list: the union of every configured upstream's list (the first upstream to
 * list a name gives its spelling), cached in Redis for `ttlSeconds` in every representation, and
 * served stale while a background refill runs. It is never held whole in memory: upstream HTML is
 * parsed as it streams in (only the names are kept), each representation is rendered in chunks
 * and APPENDed to Redis (compressed on the way), and served back out with GETRANGE.
 */
export class RootPages {
  private readonly filling = new SingleFlight<RootMeta>();

  constructor(private readonly deps: RootPagesDeps) {
    deps.fills?.serve('root', deps.protocol.name, (job) => this.runJob(job));
  }

  async serve(variant: RootVariant): Promise<RootAnswer> {
    const { cache, metrics, logger } = this.deps;
    let meta: RootMeta | null;
    try {
      meta = await cache.getMeta();
    } catch {
      metrics.cacheLookups.inc({ category: 'index', result: 'error' });
      return this.uncached(variant);
    }
    if (meta && this.isFresh(meta)) {
      metrics.cacheLookups.inc({ category: 'index', result: 'hit' });
      return this.cached(meta, variant, 'hit');
    }
    if (meta) {
      metrics.cacheLookups.inc({ category: 'index', result: 'stale' });
      this.fill(meta.fetchedAt).catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'root index refill failed; serving the stale list'));
      return this.cached(meta, variant, 'stale');
    }
    metrics.cacheLookups.inc({ category: 'index', result: 'miss' });
    try {
      return this.cached(await this.fill(0), variant, 'miss');
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
      return this.uncached(variant);
    }
  }

  /**
   * Refills the cached list now, unless a list newer than `seen` (the `fetchedAt` of the one the
   * caller saw; default: the current one) is published meanwhile. Single flight within the process
   * and, with `fills`, across replicas.
   */
  fill(seen?: number): Promise<RootMeta> {
    return this.filling.run('root', () => this.fillShared(seen));
  }

  private isFresh(meta: RootMeta): boolean {
    return (Date.now() - meta.fetchedAt) / 1000 < this.deps.ttlSeconds;
  }

  private cached(meta: RootMeta, variant: RootVariant, cache: CacheState): RootAnswer {
    return { kind: 'cached', meta, cache, length: meta.lengths[variant], body: () => this.deps.cache.read(meta.generation, variant, meta.lengths[variant]) };
  }

  /** One `pages` job per list seen: any replica's worker runs it, the others wait for its meta. */
  private async fillShared(seen: number | undefined): Promise<RootMeta> {
    const { fills, protocol, cache } = this.deps;
    const since = seen ?? (await cache.getMeta())?.fetchedAt ?? 0;
    const shared = fills ? await fills.run<RootMeta>({ kind: 'root', protocol: protocol.name, seen: since }, FILL_MS) : null;
    return shared?.meta ?? this.fillHere(since);
  }

  /** A `pages` job for the root list, run by this process's worker. */
  private async runJob(job: Extract<PageFillJob, { kind: 'root' }>): Promise<HandledFill<RootMeta>> {
    try {
      return { result: { ok: true, meta: await this.fillHere(job.seen) } };
    } catch (err) {
      return fillFailure(err);
    }
  }

  /** Fills in this process, unless a list newer than `seen` was published meanwhile. */
  private async fillHere(seen: number): Promise<RootMeta> {
    const meta = await this.deps.cache.getMeta();
    if (meta && meta.fetchedAt > seen) return meta;
    return this.fillFromUpstreams();
  }

  private async fillFromUpstreams(): Promise<RootMeta> {
    const { cache, protocol, ttlSeconds, staleTtlSeconds, logger } = this.deps;
    const started = Date.now();
    const entries = await this.collect();
    const generation = cache.newGeneration();
    const pendingSeconds = Math.ceil(FILL_MS / 1000);
    const hash = createHash('sha256');
    const lengths = {} as Record<RootVariant, number>;
    try {
      for (const format of ['html', 'json'] as const) {
        const render = () => Readable.from(protocol.renderRootIndex(format, entries.values()), { objectMode: false });
        lengths[format] = await pipelineTo(render(), [], (chunk) => cache.append(generation, format, chunk, pendingSeconds), hash);
        lengths[`${format}.gz`] = await pipelineTo(render(), [createGzip({ level: 6 })], (chunk) => cache.append(generation, `${format}.gz`, chunk, pendingSeconds));
        lengths[`${format}.br`] = await pipelineTo(render(), [createBrotliCompress({ params: { [zlib.BROTLI_PARAM_QUALITY]: 5 } })], (chunk) =>
          cache.append(generation, `${format}.br`, chunk, pendingSeconds),
        );
      }
      const meta: RootMeta = { etag: hash.digest('hex').slice(0, 32), fetchedAt: Date.now(), generation, lengths, projects: entries.size };
      await cache.publish(meta, ttlSeconds + staleTtlSeconds);
      logger.info({ projects: entries.size, htmlBytes: lengths.html, ms: Date.now() - started }, 'root index filled');
      return meta;
    } catch (err) {
      await cache.discard(generation).catch((discardErr: unknown) => logger.debug({ err: errorReason(discardErr) }, 'could not discard a partial root list'));
      throw err;
    }
  }

  /**
   * The union of the upstreams' lists, keyed by normalised name, in upstream priority order. An
   * upstream without a root list (404) adds nothing; one that fails fails the fill, so a partial
   * list never replaces a complete one.
   */
  private async collect(): Promise<Map<string, RootEntry>> {
    const entries = new Map<string, RootEntry>();
    for (const upstream of await this.deps.upstreams()) await this.collectFrom(upstream, entries);
    return entries;
  }

  private async collectFrom(upstream: UpstreamConfig, entries: Map<string, RootEntry>): Promise<void> {
    const { http, protocol, metrics } = this.deps;
    const timer = metrics.upstreamDuration.startTimer({ upstream: upstream.name, kind: 'root' });
    let outcome = 'error';
    try {
      const response = await http.get(upstream, upstream.url, { headers: { accept: protocol.rootIndexAccept, 'accept-encoding': 'identity' } });
      timer();
      if (response.status === 404 || response.status === 410) {
        response.body.resume();
        outcome = 'not_found';
        return;
      }
      if (response.status !== 200) {
        response.body.resume();
        outcome = response.status >= 500 ? 'server_error' : 'client_error';
        throw new UpstreamError('status', `upstream ${upstream.name} answered ${response.status} for its root index`, response.status);
      }
      const contentType = response.headers['content-type'];
      const parser = protocol.createRootIndexParser(
        Array.isArray(contentType) ? contentType[0] : contentType,
        (entry) => {
          const key = protocol.normalizeName(entry.name);
          if (!entries.has(key)) entries.set(key, entry);
        },
        MAX_ROOT_BYTES,
      );
      try {
        for await (const chunk of response.body) parser.write(chunk as Buffer);
      } catch (err) {
        response.body.destroy();
        throw asUpstreamError(err, upstream.name);
      }
      parser.end();
      outcome = 'ok';
    } finally {
      metrics.upstreamRequests.inc({ upstream: upstream.name, kind: 'root', outcome });
    }
  }

  /** Without Redis: the upstreams' union (collected before answering) rendered straight into the response. */
  private async uncached(variant: RootVariant): Promise<RootAnswer> {
    const format = variant.startsWith('json') ? 'json' : 'html';
    const entries = await this.collect();
    const protocol = this.deps.protocol;
    function* render(): Generator<Buffer> {
      for (const chunk of protocol.renderRootIndex(format, entries.values())) yield Buffer.from(chunk);
    }
    return { kind: 'uncached', body: render() };
  }
}

/**
 * Pipes rendered text through optional transforms into `sink`, batching writes; returns the bytes
 * written. Backpressure holds: the renderer runs only as fast as Redis takes the output.
 */
async function pipelineTo(source: Readable, transforms: [] | [NodeJS.ReadWriteStream], sink: (chunk: Buffer) => Promise<void>, hash?: Hash): Promise<number> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let total = 0;
  const flush = async () => {
    if (pendingBytes === 0) return;
    const chunk = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    await sink(chunk);
  };
  const writer = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      hash?.update(buffer);
      total += buffer.length;
      pending.push(buffer);
      pendingBytes += buffer.length;
      if (pendingBytes < APPEND_BYTES) return callback();
      flush().then(() => callback(), callback);
    },
    final(callback) {
      flush().then(() => callback(), callback);
    },
  });
  if (transforms.length === 0) await pipeline(source, writer);
  else await pipeline(source, transforms[0]!, writer);
  return total;
}
