/**
 * `npx tsx bench/probe-record-fetched.ts`: what recording one fetched file costs (the fetcher's
 * `ArtifactRepository.recordFetched`, a new artifact and URL each time, one after another on a
 * fresh database): wall time, this process's CPU and PostgreSQL's, per record, in three rounds of
 * PROBE_RECORDS (400) after 200 to warm up. Run on two checkouts alternately to compare them.
 */
import { ArtifactRepository } from '../libs/db/artifact-repository.js';
import { createPrismaClient } from '../libs/db/client.js';
import { runMigrations } from '../libs/db/migrate.js';
import { sha256Hex } from '../libs/db/sha256.js';
import { createTestDatabase } from '../test/support/postgres.js';
import { cpuMsOf, pidsNamed } from './lib/cpu-time.js';

const db = await createTestDatabase();
await runMigrations({ databaseUrl: db.url });
const prisma = createPrismaClient({ databaseUrl: db.url, poolSize: 4 });
const artifacts = new ArtifactRepository(prisma);
let next = 0;
async function recordOne(): Promise<void> {
  const name = `probe-${next++}`;
  await artifacts.recordFetched({
    sha256: sha256Hex(name),
    size: 1234,
    filename: `${name}-1.0-py3-none-any.whl`,
    project: name,
    protocol: 'pypi',
    storageKey: `blobs/${name}`,
    url: `https://files.example/${name}.whl`,
    upstream: 'pypi',
    downloaded: true,
  });
}

try {
  for (let i = 0; i < 200; i++) await recordOne();
  const records = Number(process.env.PROBE_RECORDS ?? 400);
  for (let round = 0; round < 3; round++) {
    const cpu = process.cpuUsage();
    const postgres = cpuMsOf(pidsNamed('postgres'));
    const started = performance.now();
    for (let i = 0; i < records; i++) await recordOne();
    const wallMs = (performance.now() - started) / records;
    const used = process.cpuUsage(cpu);
    const cpuMs = (used.user + used.system) / 1000 / records;
    const postgresMs = (cpuMsOf(pidsNamed('postgres')) - postgres) / records;
    console.log(`round ${round + 1}: ${wallMs.toFixed(2)} ms wall, ${cpuMs.toFixed(2)} ms CPU here, ${postgresMs.toFixed(2)} ms CPU in PostgreSQL, per record`);
  }
} finally {
  await prisma.$disconnect();
  await db.drop();
}
