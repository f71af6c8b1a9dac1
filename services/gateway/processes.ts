import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../../libs/log/index.js';
import { answerClusterScrapes } from '../../libs/metrics/index.js';

/** A process that dies sooner than this after its start is not restarted (a crash loop). */
const MIN_UPTIME_MS = 5_000;
const RESTART_DELAY_MS = 1_000;

/**
 * Runs the gateway as `processes` processes sharing its port (ORCHARD_GATEWAY_PROCESSES). This
 * primary process opens no connection of its own: it forks the processes, restarts one that dies
 * (unless it died right after its start), answers their metrics scrapes with all of them aggregated,
 * and on SIGTERM/SIGINT passes SIGTERM on and exits once each has drained. The kernel spreads
 * connections over the processes (SCHED_NONE: no hand-off through the primary).
 */
export function runGatewayProcesses(processes: number, shutdownTimeoutMs: number, logger: Logger): void {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  answerClusterScrapes();
  let stopping = false;
  const started = new Map<Worker, number>();
  const fork = () => started.set(cluster.fork(), Date.now());
  for (let i = 0; i < processes; i++) fork();

  cluster.on('exit', (worker, code, signal) => {
    const uptimeMs = Date.now() - (started.get(worker) ?? 0);
    started.delete(worker);
    if (stopping) {
      if (started.size === 0) process.exit(0);
      return;
    }
    if (uptimeMs >= MIN_UPTIME_MS) {
      logger.error({ processPid: worker.process.pid, code, signal, uptimeMs }, 'gateway process exited; starting another');
      setTimeout(() => stopping || fork(), RESTART_DELAY_MS);
    } else if (started.size === 0) {
      logger.error({ processPid: worker.process.pid, code, signal, uptimeMs }, 'gateway process exited right after its start, as did the others; stopping');
      process.exit(code === 2 ? 2 : 1);
    } else {
      logger.error({ processPid: worker.process.pid, code, signal, uptimeMs }, 'gateway process exited right after its start; not restarted');
    }
  });

  for (const name of ['SIGTERM', 'SIGINT'] as const) {
    process.once(name, () => {
      stopping = true;
      logger.info({ signal: name, processes: started.size }, 'stopping the gateway processes');
      if (started.size === 0) process.exit(0);
      for (const worker of started.keys()) worker.process.kill('SIGTERM');
      // Each process bounds its own drain by shutdownTimeoutMs; this is the backstop.
      setTimeout(() => {
        logger.error({ processes: started.size }, 'gateway processes still running after the shutdown timeout; killing them');
        for (const worker of started.keys()) worker.process.kill('SIGKILL');
        process.exit(1);
      }, shutdownTimeoutMs + 5_000).unref();
    });
  }
  logger.info({ processes }, 'gateway processes started');
}
