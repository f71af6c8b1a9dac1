import { Prisma, type PrismaClient } from './client.js';

/** Bytes and files in storage (artifacts whose bytes are stored: not evicted). */
export interface StorageUsage {
  bytes: number;
  files: number;
}

/** A stored file eviction may take, in the order it takes them. */
export interface EvictionCandidate {
  sha256: string;
  protocol: string;
  project: string;
  filename: string;
  size: number;
  /** 0: no cached URL of a configured upstream lists the file (evicted first). */
  refCount: number;
  /** When it was last served or fetched, whichever is later (a re-fetch is a use). */
  lastUsedAt: Date;
  /** The version its extraction found, when it was extracted. */
  version: string | null;
}

/** Where a scan of candidates resumes: the last candidate seen. */
export type CandidateCursor = Pick<EvictionCandidate, 'refCount' | 'lastUsedAt' | 'sha256'>;

/** A file just marked as evicted (its bytes are deleted next). */
export interface EvictedRow {
  sha256: string;
  protocol: string;
  project: string;
  filename: string;
  size: number;
  metadataSha256: string | null;
}

/** A pin: a project's files (every version: `version` "") or one version's are never evicted. */
export interface StoragePinRow {
  protocol: string;
  project: string;
  version: string;
  createdAt: Date;
}

/** What `GET /api/v1/admin/storage` shows, as far as PostgreSQL knows it. */
export interface StorageReport extends StorageUsage {
  evictedFiles: number;
  /** Requests answered from storage (or a gateway's memo of it), of those and downloads together (null before any). */
  hitRatio: number | null;
  /** Requests answered from storage or memo (counted with a quota). */
  served: number;
  /** Downloads from upstreams (first fetches and re-fetches). */
  fetched: number;
  oldestServedAt: Date | null;
  newestServedAt: Date | null;
  topProjects: Array<{ protocol: string; project: string; bytes: number; files: number }>;
}

/**
 * The storage lifecycle's rows: when files were served (written in batches by the gateways), what
 * eviction may take and in which order, what it took, and pins.
 */
export class StorageRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Records one batch of serves: each file's serve count grows by its count and its last serve
   * becomes `at`; files still streaming (count 0) only renew their last serve. One statement.
   */
  async recordServed(counts: ReadonlyMap<string, number>, at: Date): Promise<void> {
    if (counts.size === 0) return;
    const shas = [...counts.keys()];
    const ns = [...counts.values()];
    await this.prisma.$executeRaw`
      UPDATE artifact AS a
         SET last_served_at = GREATEST(a.last_served_at, ${at}),
             served_count = a.served_count + v.n
        FROM unnest(${shas}::text[], ${ns}::int[]) AS v(sha, n)
       WHERE a.sha256 = v.sha`;
  }

  async usage(): Promise<StorageUsage> {
    const [row] = await this.prisma.$queryRaw<Array<{ bytes: bigint | null; files: bigint }>>`
      SELECT SUM(size)::bigint AS bytes, COUNT(*)::bigint AS files FROM artifact WHERE evicted_at IS NULL`;
    return { bytes: Number(row?.bytes ?? 0), files: Number(row?.files ?? 0) };
  }

  /**
   * Recounts every stored file's references: the cached URLs of the upstreams configured now (a file
   * only a removed upstream listed drops to 0). Only changed rows are written.
   * @returns how many rows changed
   */
  async recountReferences(upstreams: readonly string[]): Promise<number> {
    const names = [...upstreams];
    return this.prisma.$executeRaw`
      UPDATE artifact AS a SET ref_count = r.n
        FROM (SELECT a2.sha256, COUNT(c.url_hash) FILTER (WHERE c.upstream = ANY(${names}::text[]))::int AS n
                FROM artifact a2 LEFT JOIN cached_url c ON c.artifact_sha256 = a2.sha256
               WHERE a2.evicted_at IS NULL
               GROUP BY a2.sha256) AS r
       WHERE a.sha256 = r.sha256 AND a.ref_count <> r.n`;
  }

  /**
   * Stored files not used since `usedBefore`, in eviction order: unreferenced first, then least
   * recently used (the later of the last serve and the last fetch); `after` resumes a scan.
   */
  async candidates(usedBefore: Date, take: number, after?: CandidateCursor): Promise<EvictionCandidate[]> {
    const resume = after
      ? Prisma.sql`AND (CASE WHEN a.ref_count = 0 THEN 0 ELSE 1 END, GREATEST(a.last_served_at, a.last_fetched_at), a.sha256)
                     > (${after.refCount === 0 ? 0 : 1}, ${after.lastUsedAt}, ${after.sha256})`
      : Prisma.empty;
    const rows = await this.prisma.$queryRaw<Array<Omit<EvictionCandidate, 'size'> & { size: bigint }>>`
      SELECT a.sha256, a.protocol, a.project, a.filename, a.size, a.ref_count AS "refCount",
             GREATEST(a.last_served_at, a.last_fetched_at) AS "lastUsedAt", r.version
        FROM artifact a LEFT JOIN release r ON r.artifact_sha256 = a.sha256
       WHERE a.evicted_at IS NULL AND GREATEST(a.last_served_at, a.last_fetched_at) < ${usedBefore} ${resume}
       ORDER BY CASE WHEN a.ref_count = 0 THEN 0 ELSE 1 END, GREATEST(a.last_served_at, a.last_fetched_at), a.sha256
       LIMIT ${take}`;
    return rows.map((row) => ({ ...row, size: Number(row.size) }));
  }

  /**
   * Marks a file evicted, unless it was served or fetched since `usedBefore` (a gateway's batch or a
   * re-fetch got there first) or is evicted already.
   * @returns the row, or null when it was not marked
   */
  async markEvicted(sha256: string, usedBefore: Date): Promise<EvictedRow | null> {
    const rows = await this.prisma.$queryRaw<Array<Omit<EvictedRow, 'size'> & { size: bigint }>>`
      UPDATE artifact SET evicted_at = now()
       WHERE sha256 = ${sha256} AND evicted_at IS NULL AND GREATEST(last_served_at, last_fetched_at) < ${usedBefore}
      RETURNING sha256, protocol, project, filename, size, metadata_sha256 AS "metadataSha256"`;
    const row = rows[0];
    return row ? { ...row, size: Number(row.size) } : null;
  }

  /** Which of these files are stored (recorded and not evicted). */
  async storedAmong(sha256s: readonly string[]): Promise<Set<string>> {
    if (sha256s.length === 0) return new Set();
    const rows = await this.prisma.artifact.findMany({ where: { sha256: { in: [...sha256s] }, evictedAt: null }, select: { sha256: true } });
    return new Set(rows.map((row) => row.sha256));
  }

  /** Whether the quota evicted this file's bytes (and no re-fetch has stored them since). */
  async isEvicted(sha256: string): Promise<boolean> {
    const row = await this.prisma.artifact.findUnique({ where: { sha256 }, select: { evictedAt: true } });
    return row?.evictedAt != null;
  }

  async pins(): Promise<StoragePinRow[]> {
    return this.prisma.storagePin.findMany({
      orderBy: [{ protocol: 'asc' }, { project: 'asc' }, { version: 'asc' }],
      select: { protocol: true, project: true, version: true, createdAt: true },
    });
  }

  /** @returns false when the pin existed already */
  async addPin(pin: Omit<StoragePinRow, 'createdAt'>): Promise<boolean> {
    const { count } = await this.prisma.storagePin.createMany({ data: [pin], skipDuplicates: true });
    return count > 0;
  }

  /** @returns false when there was no such pin */
  async removePin(pin: Omit<StoragePinRow, 'createdAt'>): Promise<boolean> {
    const { count } = await this.prisma.storagePin.deleteMany({ where: pin });
    return count > 0;
  }

  async report(topProjects = 10): Promise<StorageReport> {
    const [totals] = await this.prisma.$queryRaw<
      Array<{ bytes: bigint | null; files: bigint; evicted: bigint; served: bigint | null; fetched: bigint | null; oldest: Date | null; newest: Date | null }>
    >`
      SELECT SUM(size) FILTER (WHERE evicted_at IS NULL)::bigint AS bytes,
             COUNT(*) FILTER (WHERE evicted_at IS NULL)::bigint AS files,
             COUNT(*) FILTER (WHERE evicted_at IS NOT NULL)::bigint AS evicted,
             SUM(served_count)::bigint AS served,
             SUM(fetch_count)::bigint AS fetched,
             MIN(last_served_at) FILTER (WHERE evicted_at IS NULL) AS oldest,
             MAX(last_served_at) AS newest
        FROM artifact`;
    const top = await this.prisma.$queryRaw<Array<{ protocol: string; project: string; bytes: bigint; files: bigint }>>`
      SELECT protocol, project, SUM(size)::bigint AS bytes, COUNT(*)::bigint AS files
        FROM artifact WHERE evicted_at IS NULL
       GROUP BY protocol, project ORDER BY bytes DESC, project LIMIT ${topProjects}`;
    const served = Number(totals?.served ?? 0);
    const fetched = Number(totals?.fetched ?? 0);
    return {
      bytes: Number(totals?.bytes ?? 0),
      files: Number(totals?.files ?? 0),
      evictedFiles: Number(totals?.evicted ?? 0),
      // Every download answered a request that storage could not (a miss).
      hitRatio: served + fetched === 0 ? null : served / (served + fetched),
      served,
      fetched,
      oldestServedAt: totals?.oldest ?? null,
      newestServedAt: totals?.newest ?? null,
      topProjects: top.map((t) => ({ protocol: t.protocol, project: t.project, bytes: Number(t.bytes), files: Number(t.files) })),
    };
  }
}
