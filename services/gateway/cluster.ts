import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../../libs/log/index.js';

/** A worker that dies sooner than this after its start is not restarted (a crash loop). */
const MIN_UPTIME_MS = 5_000;

/**
 * Runs the gateway as `workers` processes sharing its port (`ORCHARD_GATEWAY_WORKERS`): this
 * (primary) process only forks, restarts a worker that dies, and on SIGTERM/SIGINT passes the
 * signal on and exits once every worker has drained. The kernel spreads connections over the
 * workers (SCHED_NONE: no hand-off through the primary). Each worker keeps its own metrics, so a
 * `/metrics` scrape reads the worker that answers it.
 */
export function runGatewayCluster(workers: number, logger: Logger): void {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let stopping = false;
  const started = new Map<Worker, number>();
  const fork = () => started.set(cluster.fork(), Date.now());
  for (let i = 0; i < workers; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    const uptime = Date.now() - (started.get(worker) ?? 0);
    started.delete(worker);
    if (stopping) {
      if (started.size === 0) process.exit(0);
      return;
    }
    logger.error({ pid: worker.process.pid, code, signal, uptimeMs: uptime }, 'gateway worker exited');
    if (uptime >= MIN_UPTIME_MS) fork();
    else if (started.size === 0) process.exit(1);
  });
  for (const name of ['SIGTERM', 'SIGINT'] as const) {
    process.once(name, () => {
      stopping = true;
      if (started.size === 0) process.exit(0);
      for (const worker of started.keys()) worker.process.kill('SIGTERM');
    });
  }
  logger.info({ workers }, 'gateway cluster started');
}
