import type { Job, QueueEvents, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { UpstreamError, type UpstreamFailure } from '../http/index.js';
import { errorReason, type Logger } from '../log/index.js';
import { UnrecoverableError, awaitSharedJob, createWorker, within, type PageFillJob, type PageFillResult, type Producers, type WorkerHooks } from '../queue/index.js';

type Handler = (job: PageFillJob) => Promise<PageFillResult>;
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
  private readonly pickupMs: number;

  constructor(private readonly deps: PageFillQueueDeps) {
    this.pickupMs = deps.pickupMs ?? 2_000;
  }

  /** Registers what runs one kind of fill for one protocol (ProjectPages and RootPages do, when given the queue). */
  serve<K extends Kind>(kind: K, protocol: string, handler: (job: Extract<PageFillJob, { kind: K }>) => Promise<PageFillResult>): void {
    const key = `${kind}/${protocol}`;
    if (this.handlers.has(key)) throw new Error(`two handlers for ${key} page fills`);
    this.handlers.set(key, handler as Handler);
  }

  /**
   * Adds (or joins) the fill and waits up to `waitMs` for its meta. Throws the fill's upstream
   * failure as an UpstreamError of the same kind; null: fill it yourself (see the class comment).
   */
  async run<Meta>(job: PageFillJob, waitMs: number): Promise<Meta | null> {
    const { producers, events, logger } = this.deps;
    let added: Job<PageFillJob, PageFillResult>;
    try {
      // Bounded: BullMQ waits for a connection that never was ready (Redis down since start) rather than failing.
      added = await within(producers.addPageFill(job), Math.min(ADD_MS, this.pickupMs), 'page fill queue not reachable', logger);
    } catch (err) {
      logger.debug({ err: errorReason(err) }, 'page fill queue unavailable; filling here');
      return null;
    }
    const outcome = await awaitSharedJob(added, events, { pickupMs: this.pickupMs, waitMs }, logger);
    switch (outcome.kind) {
      case 'finished': {
        const result = outcome.value;
        if (result.ok) return (result.meta ?? null) as Meta | null;
        throw new UpstreamError(result.failure as UpstreamFailure, result.message, result.status);
      }
      case 'unclaimed':
        logger.warn({ jobId: added.id, pickupMs: this.pickupMs }, 'no worker took the page fill in time; filling here');
        return null;
      case 'lost':
        logger.warn({ jobId: added.id, reason: outcome.reason }, 'page fill job failed or timed out; filling here');
        return null;
    }
  }

  /**
   * Starts this process's worker for the queue (every gateway runs one, so any replica may run any
   * fill). Fails at once when a kind of fill has no handler.
   */
  startWorker(options: { connection: Redis; prefix: string; concurrency?: number; hooks?: WorkerHooks; stalledIntervalMs?: number }): Worker {
    const served = [...this.handlers.keys()].map((key) => key.split('/')[0]);
    const missing = KINDS.filter((kind) => !served.includes(kind));
    if (missing.length > 0) throw new Error(`no handler for ${missing.join(', ')} page fills`);
    const worker = createWorker(
      'pages',
      (payload) => {
        const handler = this.handlers.get(`${payload.kind}/${payload.protocol}`);
        if (!handler) throw new UnrecoverableError(`this process fills no ${payload.protocol} ${payload.kind} pages`);
        return handler(payload);
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
export function fillFailure(err: unknown): PageFillResult<never> {
  if (!(err instanceof UpstreamError)) throw err;
  return { ok: false, failure: err.failure, ...(err.status !== undefined ? { status: err.status } : {}), message: err.message };
}
