/**
 * `npm run gc`: the storage job now. Reads the same environment as the services (DATABASE_URL,
 * REDIS_URL, ORCHARD_STORAGE_QUOTA, …).
 *
 *   npm run gc -- --dry-run [--json]   what eviction would take now (nothing changes; needs PostgreSQL only)
 *   npm run gc [-- --json]             queues a run of the `storage` job and waits for a fetcher to finish it
 *
 * Exit status: 0 done, 1 on an error, 2 on a bad argument.
 */
import { randomBytes } from 'node:crypto';
import { QueueEvents } from 'bullmq';
import { loadSettingsOrExit, type Settings } from '../libs/config/index.js';
import { StorageRepository, createPrismaClient } from '../libs/db/index.js';
import { createLogger, errorReason, type Logger } from '../libs/log/index.js';
import { registeredProtocols } from '../libs/protocol/index.js';
import { evictOverQuota, pinMatcher, type EvictionOutcome, type StorageJobResult } from '../libs/quota/index.js';
import { Producers, createWorkerRedis, queues } from '../libs/queue/index.js';

/** How long `npm run gc` waits for a fetcher to run the job. */
const WAIT_MS = 10 * 60_000;

interface Flags {
  dryRun: boolean;
  json: boolean;
}

function parseFlags(argv: string[]): Flags {
  const flags: Flags = { dryRun: false, json: false };
  for (const arg of argv) {
    if (arg === '--dry-run') flags.dryRun = true;
    else if (arg === '--json') flags.json = true;
    else {
      process.stderr.write(`gc: unknown argument ${arg}\nusage: gc [--dry-run] [--json]\n`);
      process.exit(2);
    }
  }
  return flags;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

async function dryRun(settings: Settings, logger: Logger, json: boolean): Promise<void> {
  const prisma = createPrismaClient({ databaseUrl: settings.databaseUrl, poolSize: 2 });
  try {
    const storage = new StorageRepository(prisma);
    const { quotaBytes, lowWaterBytes, evictionGraceMs } = settings.storageLifecycle;
    if (quotaBytes === undefined || lowWaterBytes === undefined) {
      const usage = await storage.usage();
      if (json) process.stdout.write(`${JSON.stringify({ quota: null, usage, evicted: [] })}\n`);
      else process.stdout.write(`no quota (ORCHARD_STORAGE_QUOTA is unset): nothing would be evicted; ${usage.files} files, ${mib(usage.bytes)} stored\n`);
      return;
    }
    const outcome = await evictOverQuota(
      { storage, isPinned: pinMatcher(await storage.pins(), registeredProtocols()), logger },
      { quotaBytes, lowWaterBytes, graceMs: evictionGraceMs },
    );
    if (json) process.stdout.write(`${JSON.stringify({ quota: { bytes: quotaBytes, lowWaterBytes }, ...outcome })}\n`);
    else printPlan(outcome, quotaBytes);
  } finally {
    await prisma.$disconnect();
  }
}

function printPlan(outcome: EvictionOutcome, quotaBytes: number): void {
  const { usageBefore, usageAfter, evicted } = outcome;
  process.stdout.write(`stored: ${usageBefore.files} files, ${mib(usageBefore.bytes)} of a ${mib(quotaBytes)} quota\n`);
  if (evicted.length === 0) {
    process.stdout.write('nothing would be evicted\n');
    return;
  }
  process.stdout.write(`would evict ${evicted.length} files (${mib(usageBefore.bytes - usageAfter.bytes)}), leaving ${mib(usageAfter.bytes)}:\n`);
  for (const file of evicted) {
    process.stdout.write(
      `  ${file.reason.padEnd(12)} ${mib(file.size).padStart(11)}  last used ${file.lastUsedAt.toISOString()}  ${file.protocol}/${file.project}  ${file.filename}\n`,
    );
  }
}

async function runNow(settings: Settings, logger: Logger, json: boolean): Promise<void> {
  const redis = createWorkerRedis(settings.redisUrl);
  const eventsRedis = createWorkerRedis(settings.redisUrl);
  const producers = new Producers(redis, settings.queuePrefix, logger);
  const events = new QueueEvents(queues.storage.name, { connection: eventsRedis, prefix: settings.queuePrefix });
  events.on('error', (err: Error) => logger.debug({ err: errorReason(err) }, 'storage queue events: Redis error'));
  try {
    if ((await producers.storage.getWorkersCount()) === 0) process.stderr.write('gc: no fetcher is connected to this queue; the run waits until one starts\n');
    await events.waitUntilReady();
    const job = await producers.addStorage({ trigger: 'manual', runId: randomBytes(6).toString('hex') }, { keepResultSeconds: WAIT_MS / 1000 });
    const result = (await job.waitUntilFinished(events, WAIT_MS)) as StorageJobResult;
    if (json) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return;
    }
    const orphans = result.orphans?.unsupported ? `not cleaned (${result.orphans.unsupported})` : `${result.orphans?.removed ?? 0} removed`;
    process.stdout.write(`orphaned writes: ${orphans}\n`);
    const eviction = result.eviction;
    if (!eviction) process.stdout.write('no quota (ORCHARD_STORAGE_QUOTA is unset): nothing evicted\n');
    else
      process.stdout.write(
        `evicted ${eviction.evictedFiles} files (${mib(eviction.evictedBytes)}); stored now: ${eviction.usageAfter.files} files, ${mib(eviction.usageAfter.bytes)}\n`,
      );
  } finally {
    await Promise.allSettled([events.close(), producers.close()]);
    redis.disconnect();
    eventsRedis.disconnect();
  }
}

async function main(): Promise<number> {
  const flags = parseFlags(process.argv.slice(2));
  const settings = loadSettingsOrExit();
  const logger = createLogger('gc', settings.logLevel, process.stderr);
  try {
    await (flags.dryRun ? dryRun(settings, logger, flags.json) : runNow(settings, logger, flags.json));
    return 0;
  } catch (err) {
    process.stderr.write(`gc: ${errorReason(err)}\n`);
    return 1;
  }
}

process.exitCode = await main();
