import type { Job, QueueEvents, Worker } from 'bullmq';
import type { RedisClient } from '../redis/index.js';
import { UpstreamError, type UpstreamFailure } from '../http/index.js';
import { errorReason, type Logger } from '../log/index.js';
import { UnrecoverableError, awaitSharedJob, createWorker, queues, within, type PageFillJob, type PageFillResult, type Producers, type WorkerHooks } from '../queue/index.js';

/** What a fill handler returns: the job's result, and what it built, for a caller in this process only (it never enters Redis). */
export interface HandledFill<Meta = unknown, Built = unknown> {
  result: PageFillResult<Meta>;
  built?: Built;
}
/** A fill's meta, with what was built when this process's worker ran it. */
export interface FillOutcome<Meta, Built> {
  meta: Meta;
  built?: Built;
}
type Handler = (job: PageFillJob) => Promise<HandledFill>;
type Kind = PageFillJob['kind'];
const KINDS: readonly Kind[] = ['project', 'root'];
/**
 * Fills one gateway's worker runs at once. A fill mostly waits on its upstream, and a caller whose
 * job waits longer than `pickupMs` for a free slot fills by itself, so this errs high.
 */
const CONCURRENCY = 64;
/** Adding a job takes a millisecond or two; past this the queue counts as unreachable and the caller fills by itself. */
const ADD_MS = 500;

export interface PageFillQueueDeps {
  producers: Pick<Producers, 'addPageFill'>;
  /** Events of the `pages` queue (`createQueueEvents('pages', …)`). */
  events: QueueEvents;
  logger: Logger;
  /** How long a fill may wait for a worker before its caller fills itself (default 2 s). */
  pickupMs?: number;
}

/**
 * Page fills (project pages and the root list) as `pages` jobs with deterministic ids: callers in
 * every process and replica who saw the same page join one job, run by whichever gateway's worker
 * takes it, and learn its result through the queue's events (`awaitSharedJob`). The same mechanism
 * as file fetches; the page itself travels through the cache Redis, the job carries its meta or the
 * upstream failure. `run` answers null whenever the caller should fill by itself: the queue is
 * unreachable, no worker took the job within `pickupMs`, or the job failed or outlived the wait.
 */
export class PageFillQueue {
  private readonly handlers = new Map<string, Handler>();
  /** Callers in this process by job id, told by this process's worker when it ran their job. */
  private readonly waiting = new Map<string, { ran: Promise<HandledFill>; resolve: (handled: HandledFill) => void; callers: number }>();
  private readonly pickupMs: number;

  constructor(private readonly deps: PageFillQueueDeps) {
    this.pickupMs = deps.pickupMs ?? 2_000;
  }

  /** Registers what runs one kind of fill for one protocol (ProjectPages and RootPages do, when given the queue). */
  serve<K extends Kind>(kind: K, protocol: string, handler: (job: Extract<PageFillJob, { kind: K }>) => Promise<HandledFill>): void {
    const key = `${kind}/${protocol}`;
    if (this.handlers.has(key)) throw new Error(`two handlers for ${key} page fills`);
    this.handlers.set(key, handler as Handler);
  }

  /**
   * Adds (or joins) the fill and waits up to `waitMs` for its meta (and what was built, when this
   * process ran it). Throws the fill's upstream failure as an UpstreamError of the same kind; null:
   * fill it yourself (see the class comment).
   */
  async run<Meta, Built = never>(job: PageFillJob, waitMs: number): Promise<FillOutcome<Meta, Built> | null> {
    const id = queues.pages.jobId(job);
    // Registered before the add: this process's worker may run the job before the add returns.
    const ranHere = this.awaitRanHere(id);
    try {
      return await this.joinJob<Meta, Built>(job, waitMs, ranHere);
    } finally {
      this.leave(id);
    }
  }

  private async joinJob<Meta, Built>(job: PageFillJob, waitMs: number, ranHere: Promise<HandledFill>): Promise<FillOutcome<Meta, Built> | null> {
    const { producers, events, logger } = this.deps;
    let added: Job<PageFillJob, PageFillResult>;
    try {
      // Bounded: BullMQ waits for a connection that never was ready (Redis down since start) rather than failing.
      added = await within(producers.addPageFill(job), Math.min(ADD_MS, this.pickupMs), 'page fill queue not reachable', logger);
    } catch (err) {
      logger.debug({ err: errorReason(err) }, 'page fill queue unavailable; filling here');
      return null;
    }
    let built: Built | undefined;
    const local = ranHere.then((handled) => {
      built = handled.built as Built | undefined;
      return handled.result;
    });
    const outcome = await awaitSharedJob(added, events, { pickupMs: this.pickupMs, waitMs }, logger, local);
    switch (outcome.kind) {
      case 'finished': {
        const result = outcome.value;
        if (!result.ok) throw new UpstreamError(result.failure as UpstreamFailure, result.message, result.status);
        if (result.meta === null || result.meta === undefined) return null;
        return { meta: result.meta as Meta, ...(built !== undefined ? { built } : {}) };
      }
      case 'unclaimed':
        logger.warn({ jobId: added.id, pickupMs: this.pickupMs }, 'no worker took the page fill in time; filling here');
        return null;
      case 'lost':
        logger.warn({ jobId: added.id, reason: outcome.reason }, 'page fill job failed or timed out; filling here');
        return null;
    }
  }

  private awaitRanHere(id: string): Promise<HandledFill> {
    let entry = this.waiting.get(id);
    if (!entry) {
      let resolve!: (handled: HandledFill) => void;
      const ran = new Promise<HandledFill>((r) => (resolve = r));
      entry = { ran, resolve, callers: 0 };
      this.waiting.set(id, entry);
    }
    entry.callers++;
    return entry.ran;
  }

  private leave(id: string): void {
    const entry = this.waiting.get(id);
    if (entry && --entry.callers === 0) this.waiting.delete(id);
  }

  /**
   * Starts this process's worker for the queue (every gateway runs one, so any replica may run any
   * fill). Fails at once when a kind of fill has no handler.
   */
  startWorker(options: { connection: RedisClient; prefix: string; concurrency?: number; hooks?: WorkerHooks; stalledIntervalMs?: number }): Worker {
    const served = [...this.handlers.keys()].map((key) => key.split('/')[0]);
    const missing = KINDS.filter((kind) => !served.includes(kind));
    if (missing.length > 0) throw new Error(`no handler for ${missing.join(', ')} page fills`);
    const worker = createWorker(
      'pages',
      async (payload, job) => {
        const handler = this.handlers.get(`${payload.kind}/${payload.protocol}`);
        if (!handler) throw new UnrecoverableError(`this process fills no ${payload.protocol} ${payload.kind} pages`);
        const handled = await handler(payload);
        if (job.id !== undefined) this.waiting.get(job.id)?.resolve(handled);
        return handled.result;
      },
      { ...options, concurrency: options.concurrency ?? CONCURRENCY, logger: this.deps.logger },
    );
    worker.run().catch((err: unknown) => this.deps.logger.error({ err: errorReason(err) }, 'page fill worker stopped'));
    return worker;
  }
}

/**
 * A fill's upstream failure as the job's result (so every waiter rethrows it with its kind); any
 * other error is rethrown and fails the job (its waiters then fill by themselves).
 */
export function fillFailure(err: unknown): HandledFill<never, never> {
  if (!(err instanceof UpstreamError)) throw err;
  return { result: { ok: false, failure: err.failure, ...(err.status !== undefined ? { status: err.status } : {}), message: err.message } };
}
