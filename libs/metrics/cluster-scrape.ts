import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { errorReason } from '../log/index.js';

const REQUEST = 'orchard:scrape';
const ANSWER = 'orchard:scrape-answer';

interface ScrapeRequest {
  type: typeof REQUEST;
  id: number;
}

interface ScrapeAnswer {
  type: typeof ANSWER;
  id: number;
  text?: string;
  error?: string;
}

function isMessage<T extends { type: string }>(message: unknown, type: T['type']): message is T {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;
}

/**
 * In the primary of a process cluster: answers a worker's scrape request with the metrics of every
 * worker aggregated by prom-client's AggregatorRegistry (counters and histograms summed, gauges by
 * their `aggregator`), so a scrape reads the same totals whichever process it reaches.
 */
export function answerClusterScrapes(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: unknown) => {
    if (!isMessage<ScrapeRequest>(message, REQUEST)) return;
    const answer = (fields: Omit<ScrapeAnswer, 'type' | 'id'>) => {
      if (worker.isConnected()) worker.send({ type: ANSWER, id: message.id, ...fields } satisfies ScrapeAnswer);
    };
    aggregator.clusterMetrics().then(
      (text) => answer({ text }),
      (err: unknown) => answer({ error: errorReason(err) }),
    );
  });
}

/**
 * In a worker of a process cluster: offers `registry` to the primary's aggregation, and returns the
 * scrape to serve on `/metrics` (the whole cluster's metrics, asked of the primary).
 */
export function clusterScrape(registry: Registry, timeoutMs = 10_000): () => Promise<string> {
  // Constructing one registers prom-client's listener for the primary's requests in this worker.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  const pending = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  let next = 0;
  process.on('message', (message: unknown) => {
    if (!isMessage<ScrapeAnswer>(message, ANSWER)) return;
    const waiting = pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    clearTimeout(waiting.timer);
    if (message.text !== undefined) waiting.resolve(message.text);
    else waiting.reject(new Error(`the gateway's processes could not be scraped: ${message.error ?? 'no answer'}`));
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = next++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`the gateway's primary process did not answer a scrape within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, { resolve, reject, timer });
      process.send!({ type: REQUEST, id } satisfies ScrapeRequest);
    });
}
