import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres.js';
import { ArtifactRepository, StorageRepository, createPrismaClient, runMigrations, type EvictedRow, type PrismaClient } from '../db/index.js';
import { sha256Hex } from '../db/sha256.js';
import { createLogger } from '../log/index.js';
import { registeredProtocols } from '../protocol/index.js';
import { FsBlobStore, blobKey, sha256Digest } from '../storage/index.js';
import { evictOverQuota, type EvictionLimits } from './eviction.js';
import { pinMatcher } from './pins.js';

const logger = createLogger('fetcher', 'silent');
let db: TestDatabase;
let prisma: PrismaClient;
let storage: StorageRepository;
let artifacts: ArtifactRepository;
let root: string;
let store: FsBlobStore;

beforeAll(async () => {
  db = await createTestDatabase();
  await runMigrations({ databaseUrl: db.url });
  prisma = createPrismaClient({ databaseUrl: db.url, poolSize: 4 });
  storage = new StorageRepository(prisma);
  artifacts = new ArtifactRepository(prisma);
  root = await mkdtemp(path.join(os.tmpdir(), 'orchard-evict-'));
  store = new FsBlobStore({ root });
});

afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
  if (root) await rm(root, { recursive: true, force: true });
});

beforeEach(async () => {
  await prisma.artifact.deleteMany();
  await prisma.storagePin.deleteMany();
});

const MINUTE = 60_000;

/** Stores `size` bytes as a file of `project` fetched from `upstream`, used `minutesAgo`. */
async function storeFile(project: string, version: string, size: number, minutesAgo: number, upstream = 'pypi'): Promise<string> {
  const bytes = Buffer.alloc(size, `${project}-${version}`);
  const sha256 = sha256Hex(bytes);
  await store.put(blobKey(sha256), Readable.from([bytes]), { expected: sha256Digest(sha256) });
  const filename = `${project.replaceAll('-', '_')}-${version}-py3-none-any.whl`;
  await artifacts.recordFetched({ sha256, size, filename, project, protocol: 'pypi', storageKey: blobKey(sha256), url: `https://files.example/${filename}`, upstream });
  await prisma.artifact.update({ where: { sha256 }, data: { lastFetchedAt: new Date(Date.now() - minutesAgo * MINUTE) } });
  return sha256;
}

function evict(limits: Partial<EvictionLimits> = {}, apply = true, incomingBytes = 0) {
  const forgotten: EvictedRow[] = [];
  return storage.pins().then(async (pins) => {
    const outcome = await evictOverQuota(
      {
        storage,
        isPinned: pinMatcher(pins, registeredProtocols()),
        incomingBytes: async () => incomingBytes,
        ...(apply ? { apply: { store, forget: async (row: EvictedRow) => void forgotten.push(row) } } : {}),
        logger,
      },
      { quotaBytes: 1000, lowWaterBytes: 800, graceMs: MINUTE, ...limits },
    );
    return { outcome, forgotten };
  });
}

describe('evictOverQuota', () => {
  it('does nothing while usage is within the quota', async () => {
    await storeFile('a', '1.0', 600, 30);
    const { outcome } = await evict();
    expect(outcome.evicted).toEqual([]);
    expect(outcome.usageBefore).toEqual({ bytes: 600, files: 1 });
  });

  it('takes the least recently used files first, down to the low-water mark, and deletes their bytes', async () => {
    const oldest = await storeFile('old', '1.0', 300, 50);
    const middle = await storeFile('mid', '1.0', 300, 40);
    const recent = await storeFile('new', '1.0', 300, 30);
    const newest = await storeFile('newest', '1.0', 300, 20);
    const { outcome, forgotten } = await evict();
    // 1200 bytes, quota 1000, low water 800: two files go, oldest first.
    expect(outcome.evicted.map((f) => f.sha256)).toEqual([oldest, middle]);
    expect(outcome.evicted.every((f) => f.reason === 'quota')).toBe(true);
    expect(outcome.usageAfter).toEqual({ bytes: 600, files: 2 });
    expect(forgotten.map((f) => f.sha256)).toEqual([oldest, middle]);
    expect(await store.stat(blobKey(oldest))).toBeNull();
    expect(await store.stat(blobKey(middle))).toBeNull();
    expect(await store.stat(blobKey(recent))).not.toBeNull();
    expect(await store.stat(blobKey(newest))).not.toBeNull();
    // The rows stay (graph, metadata) but no longer count as stored.
    expect(await storage.isEvicted(oldest)).toBe(true);
    expect(await storage.isEvicted(recent)).toBe(false);
    expect(await storage.usage()).toEqual({ bytes: 600, files: 2 });
    expect(await artifacts.count()).toBe(2);
  });

  it('ends when the candidates run out after a full batch, still over the low-water mark', async () => {
    // 200 files (one whole batch of candidates) outside the grace, and one big file inside it.
    const small = await Promise.all(Array.from({ length: 200 }, (_, i) => storeFile(`small-${i}`, '1.0', 10, 30)));
    await storeFile('big', '1.0', 5000, 0);
    const { outcome } = await evict();
    expect(outcome.evicted.map((f) => f.sha256).sort()).toEqual([...small].sort());
    expect(outcome.usageAfter).toEqual({ bytes: 5000, files: 1 });
  });

  it('counts the files evicted alongside one whose delete failed, and goes on with the next', async () => {
    const first = await storeFile('first', '1.0', 300, 50);
    const failing = await storeFile('failing', '1.0', 300, 40);
    const kept = await storeFile('kept', '1.0', 600, 30);
    const deletes: string[] = [];
    const flaky = {
      delete: async (key: string) => {
        deletes.push(key);
        if (key === blobKey(failing)) throw new Error('storage said no');
        await store.delete(key);
      },
    };
    const outcome = await evictOverQuota(
      { storage, isPinned: () => false, apply: { store: flaky, forget: async () => {} }, logger },
      { quotaBytes: 1000, lowWaterBytes: 800, graceMs: MINUTE },
    );
    // The failed one does not count: the next least recently used goes too, to reach the low-water mark.
    expect(outcome.evicted.map((f) => f.sha256)).toEqual([first, kept]);
    expect(deletes.sort()).toEqual([blobKey(first), blobKey(failing), blobKey(kept)].sort());
    // Marked but still stored: a request finds the bytes and clears the mark.
    expect(await storage.isEvicted(failing)).toBe(true);
  });

  it('makes room for downloads in progress before they land', async () => {
    const oldest = await storeFile('old', '1.0', 300, 50);
    await storeFile('new', '1.0', 300, 40);
    // 600 stored + 500 arriving = 1100 > 1000: down to 800 with the arrival counted.
    const { outcome } = await evict({}, true, 500);
    expect(outcome.incomingBytes).toBe(500);
    expect(outcome.evicted.map((f) => f.sha256)).toEqual([oldest]);
    expect(outcome.usageAfter.bytes).toBe(300);
    expect((await evict({}, true, 400)).outcome.evicted).toEqual([]);
  });

  it('counts a fetch after the last serve as the later use', async () => {
    const refetched = await storeFile('refetched', '1.0', 400, 5);
    await storage.recordServed(new Map([[refetched, 1]]), new Date(Date.now() - 50 * MINUTE));
    const other = await storeFile('other', '1.0', 400, 20);
    await storeFile('third', '1.0', 400, 10);
    const { outcome } = await evict();
    expect(outcome.evicted.map((f) => f.sha256)).toEqual([other]);
  });

  it('orders by the last serve the gateways recorded, not by the fetch', async () => {
    const servedLately = await storeFile('served', '1.0', 400, 50);
    const neverServed = await storeFile('idle', '1.0', 400, 40);
    await storeFile('third', '1.0', 400, 30);
    await storage.recordServed(new Map([[servedLately, 3]]), new Date(Date.now() - 10 * MINUTE));
    // 1200 bytes: one file goes, the one not served for longest (the one served 10 minutes ago stays).
    const { outcome } = await evict();
    expect(outcome.evicted.map((f) => f.sha256)).toEqual([neverServed]);
    expect(await store.stat(blobKey(servedLately))).not.toBeNull();
  });

  it('takes files no configured upstream lists before any other', async () => {
    const listed = await storeFile('listed', '1.0', 400, 50);
    const orphan = await storeFile('orphan', '1.0', 400, 5, 'removed-upstream');
    await storeFile('other', '1.0', 400, 40);
    // The upstream `removed-upstream` is not configured any more.
    expect(await storage.recountReferences(['pypi'])).toBe(1);
    const { outcome } = await evict({ lowWaterBytes: 400, graceMs: 1000 });
    expect(outcome.evicted[0]).toMatchObject({ sha256: orphan, reason: 'unreferenced' });
    expect(outcome.evicted[1]).toMatchObject({ sha256: listed, reason: 'quota' });
  });

  it('never takes a file used within the grace period, nor a pinned one', async () => {
    const pinnedProject = await storeFile('keep-me', '1.0', 300, 50);
    const pinnedVersion = await storeFile('some-lib', '2.0', 300, 45);
    const otherVersion = await storeFile('some-lib', '3.0', 300, 40);
    const fresh = await storeFile('fresh', '1.0', 300, 0.1);
    await storage.addPin({ protocol: 'pypi', project: 'keep-me', version: '' });
    // `2` pins 2.0: versions compare as the protocol compares them.
    await storage.addPin({ protocol: 'pypi', project: 'some-lib', version: '2' });
    const { outcome } = await evict({ quotaBytes: 500, lowWaterBytes: 100 });
    expect(outcome.evicted.map((f) => f.sha256)).toEqual([otherVersion]);
    for (const kept of [pinnedProject, pinnedVersion, fresh]) expect(await store.stat(blobKey(kept))).not.toBeNull();
    expect(outcome.usageAfter.bytes).toBe(900);
  });

  it('leaves a file a gateway served after it was chosen (the serve wins the race)', async () => {
    const sha256 = await storeFile('raced', '1.0', 1200, 50);
    const usedBefore = new Date(Date.now() - MINUTE);
    const [candidate] = await storage.candidates(usedBefore, 10);
    expect(candidate?.sha256).toBe(sha256);
    await storage.recordServed(new Map([[sha256, 0]]), new Date());
    expect(await storage.markEvicted(sha256, usedBefore)).toBeNull();
    expect(await storage.isEvicted(sha256)).toBe(false);
  });

  it('changes nothing in a dry run, listing what would go', async () => {
    const oldest = await storeFile('old', '1.0', 700, 50);
    await storeFile('new', '1.0', 700, 30);
    const { outcome } = await evict({}, false);
    expect(outcome.dryRun).toBe(true);
    expect(outcome.evicted.map((f) => f.sha256)).toEqual([oldest]);
    expect(outcome.usageAfter).toEqual({ bytes: 700, files: 1 });
    expect(await store.stat(blobKey(oldest))).not.toBeNull();
    expect(await storage.usage()).toEqual({ bytes: 1400, files: 2 });
  });

  it('counts a file fetched again after its eviction as stored again, and as a second fetch', async () => {
    const sha256 = await storeFile('back', '1.0', 1200, 50);
    await evict();
    expect(await storage.isEvicted(sha256)).toBe(true);
    const row = (await artifacts.find(sha256))!;
    await artifacts.recordFetched({ ...row, size: row.size, url: `https://files.example/${row.filename}`, upstream: 'pypi', downloaded: true });
    expect(await storage.isEvicted(sha256)).toBe(false);
    expect((await artifacts.find(sha256))!.fetchCount).toBe(2);
    await storage.recordServed(new Map([[sha256, 3]]), new Date());
    const report = await storage.report();
    expect(report).toMatchObject({ bytes: 1200, files: 1, evictedFiles: 0, served: 3, fetched: 2 });
    expect(report.hitRatio).toBeCloseTo(3 / 5);
    expect(report.topProjects).toEqual([{ protocol: 'pypi', project: 'back', bytes: 1200, files: 1 }]);
  });
});
