/**
 * `npm run reextract`: re-extracts every stored artifact (after a parser upgrade) through the
 * `extract` queue, so the running extractor workers share the work, and shows progress until every
 * job has finished. Reads the same environment as the services (DATABASE_URL, REDIS_URL,
 * ORCHARD_QUEUE_PREFIX, …).
 *
 *   npm run reextract [-- --no-wait] [-- --json] [-- --batch-size=500]
 *
 * Progress goes to stderr (one updating line on a terminal, a line every few seconds otherwise);
 * the summary goes to stdout, as JSON with --json. Exit status: 0 when every job finished (failed
 * extractions are outcomes, recorded on their releases), 1 on an error, 130 when interrupted (the
 * enqueued jobs still run).
 */
import { randomBytes } from 'node:crypto';
import { QueueEvents } from 'bullmq';
import { loadSettingsOrExit } from '../libs/config/index.js';
import { ArtifactRepository, createPrismaClient } from '../libs/db/index.js';
import { createLogger, errorReason } from '../libs/log/index.js';
import { registeredProtocols } from '../libs/protocol/index.js';
import { Producers, createWorkerRedis, queues } from '../libs/queue/index.js';
import { reextractAll, type ReextractProgress } from '../services/extractor/reextract-all.js';

interface Flags {
  wait: boolean;
  json: boolean;
  batchSize: number;
}

function parseFlags(argv: string[]): Flags {
  const flags: Flags = { wait: true, json: false, batchSize: 500 };
  for (const arg of argv) {
    if (arg === '--no-wait') flags.wait = false;
    else if (arg === '--json') flags.json = true;
    else if (/^--batch-size=\d+$/.test(arg) && Number(arg.slice(13)) > 0) flags.batchSize = Number(arg.slice(13));
    else {
      process.stderr.write(`reextract: unknown argument ${arg}\nusage: reextract [--no-wait] [--json] [--batch-size=N]\n`);
      process.exit(2);
    }
  }
  return flags;
}

function line(p: ReextractProgress): string {
  const seconds = p.elapsedMs / 1000;
  const rate = seconds > 0 ? p.done / seconds : 0;
  const left = p.total - p.done;
  const eta = rate > 0 && left > 0 ? `, eta ${Math.ceil(left / rate)}s` : '';
  const enqueued = p.enqueueComplete ? '' : `${p.enqueued}/${p.total} enqueued, `;
  return `reextract ${p.runId}: ${enqueued}${p.done}/${p.total} done (ok ${p.ok}, unsupported ${p.unsupported}, failed ${p.failed}), ${rate.toFixed(1)}/s${eta}`;
}

async function main(): Promise<number> {
  const flags = parseFlags(process.argv.slice(2));
  const settings = loadSettingsOrExit();
  // JSON lines on stderr: stdout carries the summary (JSON with --json).
  const logger = createLogger('reextract', settings.logLevel, process.stderr);
  const prisma = createPrismaClient({ databaseUrl: settings.databaseUrl, poolSize: 2 });
  const redis = createWorkerRedis(settings.redisUrl);
  const eventsRedis = createWorkerRedis(settings.redisUrl);
  const producers = new Producers(redis, settings.queuePrefix, logger);
  const events = new QueueEvents(queues.extract.name, { connection: eventsRedis, prefix: settings.queuePrefix });
  // Connection errors surface on the commands; QueueEvents reconnects by itself.
  events.on('error', (err: Error) => logger.debug({ err: errorReason(err) }, 'extract queue events: Redis error'));
  const abort = new AbortController();
  const onSignal = () => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const tty = process.stderr.isTTY === true;
  let lastPrinted = 0;
  let finalShown = false;
  const show = (p: ReextractProgress) => {
    if (tty) {
      process.stderr.write(`\r\x1b[K${line(p)}`);
      return;
    }
    const final = p.enqueueComplete && p.done === p.total;
    if (final ? finalShown : Date.now() - lastPrinted < 2_000) return;
    finalShown ||= final;
    lastPrinted = Date.now();
    process.stderr.write(`${line(p)}\n`);
  };
  try {
    const artifacts = new ArtifactRepository(prisma);
    const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
    if (flags.wait && (await producers.extract.getWorkersCount()) === 0) {
      process.stderr.write('reextract: no extractor worker is connected to this queue; jobs wait until one starts (npm run start:extractor)\n');
    }
    // The artifacts of the primary protocol: the one whose releases the extractor records.
    const protocol = registeredProtocols().primary.name;
    const result = await reextractAll({
      artifacts: artifacts.listAll({ batchSize: flags.batchSize, protocol }),
      protocol,
      total: await artifacts.count(protocol),
      queue: producers.extract,
      events,
      runId,
      wait: flags.wait,
      batchSize: flags.batchSize,
      onProgress: show,
      signal: abort.signal,
      logger,
    });
    if (tty) process.stderr.write('\n');
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } else if (!flags.wait) {
      process.stdout.write(`reextract ${runId}: enqueued ${result.enqueued} artifacts; the extractor workers will process them\n`);
    } else {
      const unobserved = result.unobserved > 0 ? `, ${result.unobserved} finished without an observed outcome` : '';
      process.stdout.write(
        `reextract ${runId}: ${result.done} artifacts re-extracted in ${(result.elapsedMs / 1000).toFixed(1)}s: ok ${result.ok}, unsupported ${result.unsupported}, failed ${result.failed}${unobserved}\n`,
      );
      for (const f of result.failures) process.stdout.write(`  failed ${f.sha256}: ${f.reason}\n`);
    }
    return 0;
  } catch (err) {
    if (tty) process.stderr.write('\n');
    if (abort.signal.aborted) {
      process.stderr.write('reextract: interrupted; the jobs already enqueued still run\n');
      return 130;
    }
    process.stderr.write(`reextract: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    const closed = await Promise.allSettled([events.close(), producers.close(), prisma.$disconnect()]);
    for (const result of closed) if (result.status === 'rejected') logger.debug({ err: errorReason(result.reason) }, 'a connection did not close cleanly');
    redis.disconnect();
    eventsRedis.disconnect();
  }
}

process.exitCode = await main();
