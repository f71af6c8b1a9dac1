import { Prisma, type Artifact, type PrismaClient } from './client.js';
import { sha256Hex } from './sha256.js';

/** What the fetcher knows once a file's bytes are verified and stored. */
export interface FetchedArtifact {
  sha256: string;
  size: number | bigint;
  filename: string;
  project: string;
  protocol: string;
  storageKey: string;
  /** The upstream URL the bytes came from (a fragment, if any, is ignored). */
  url: string;
  /** Name of the upstream that served the URL. */
  upstream: string;
  /** Whether the bytes were downloaded for this record (false: the store had them already). */
  downloaded?: boolean;
}

/** The outcome of {@link ArtifactRepository.recordFetched}. */
export interface RecordFetchedResult {
  artifact: Artifact;
  /** False when this URL was already recorded for this artifact (a re-fetch). */
  urlAdded: boolean;
}

/** The fields re-extraction needs about each stored artifact. */
export interface ArtifactSummary {
  sha256: string;
  filename: string;
  project: string;
  storageKey: string;
}

/** Options for {@link ArtifactRepository.listAll}. */
export interface ListAllOptions {
  /** Rows per query; default 500. */
  batchSize?: number;
  /** Only the artifacts fetched through this protocol; default every one. */
  protocol?: string;
}

const TRANSACTION_OPTIONS = { maxWait: 10_000, timeout: 15_000 };

/** Every column of `artifact`, named as the client's {@link Artifact} fields. */
const ARTIFACT_COLUMNS = Prisma.raw(
  [
    'sha256',
    'size',
    'filename',
    'project',
    'protocol',
    'storage_key AS "storageKey"',
    'ref_count AS "refCount"',
    'metadata_sha256 AS "metadataSha256"',
    'created_at AS "createdAt"',
    'last_fetched_at AS "lastFetchedAt"',
    'last_served_at AS "lastServedAt"',
    'served_count AS "servedCount"',
    'fetch_count AS "fetchCount"',
    'evicted_at AS "evictedAt"',
  ]
    .map((column) => `a.${column}`)
    .join(', '),
);

/** The URL without its fragment: the form whose hash identifies a cached URL. */
export function canonicalUrl(url: string): string {
  const hash = url.indexOf('#');
  return hash === -1 ? url : url.slice(0, hash);
}

/** The `cached_url` key of an upstream URL: sha256 hex of the URL without fragment. */
export function urlHash(url: string): string {
  return sha256Hex(canonicalUrl(url));
}

/** Artifacts (content-addressed files) and the upstream URLs that resolved to them. */
export class ArtifactRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Records a verified, stored file and the URL it came from. The artifact's `refCount` counts
   * distinct URLs: it grows by one, atomically in SQL, only when this URL is new for this artifact;
   * a re-fetch of a known URL only touches `lastFetchedAt`. One statement when the URL is new or
   * already this artifact's (every fetch but a URL whose content changed): this runs once per
   * fetched file, on the cores a cold install's next request needs.
   */
  async recordFetched(input: FetchedArtifact): Promise<RecordFetchedResult> {
    const now = new Date();
    const url = canonicalUrl(input.url);
    const hash = urlHash(url);
    const fetchIncrement = input.downloaded ? 1 : 0;
    // The URL's row first (its foreign key is checked at the end of the statement, once the
    // artifact's row exists); the artifact's INSERT … ON CONFLICT DO UPDATE then locks that row, so
    // concurrent records of one artifact serialise, and counts the URL only if this statement added it.
    // `known` is the URL's artifact as the statement began: it tells a re-fetch from a moved URL.
    const [row] = await this.prisma.$queryRaw<Array<Artifact & { urlAdded: boolean; known: string | null }>>`
      WITH added AS (
        INSERT INTO cached_url (url_hash, url, upstream, artifact_sha256, created_at)
        VALUES (${hash}, ${url}, ${input.upstream}, ${input.sha256}, ${now})
        ON CONFLICT (url_hash) DO NOTHING
        RETURNING 1
      )
      INSERT INTO artifact AS a (sha256, size, filename, project, protocol, storage_key, ref_count, created_at, last_fetched_at)
      VALUES (${input.sha256}, ${BigInt(input.size)}, ${input.filename}, ${input.project}, ${input.protocol}, ${input.storageKey},
              (SELECT count(*) FROM added)::int, ${now}, ${now})
      ON CONFLICT (sha256) DO UPDATE
        -- Stored again: no longer evicted (a download after an eviction counts as a fetch).
        SET last_fetched_at = EXCLUDED.last_fetched_at, evicted_at = NULL,
            fetch_count = a.fetch_count + ${fetchIncrement}, ref_count = a.ref_count + EXCLUDED.ref_count
      RETURNING ${ARTIFACT_COLUMNS},
        EXISTS (SELECT 1 FROM added) AS "urlAdded",
        (SELECT artifact_sha256 FROM cached_url WHERE url_hash = ${hash}) AS known`;
    const { urlAdded, known, ...artifact } = row!;
    if (urlAdded || known === input.sha256) return { artifact, urlAdded };
    return this.moveUrl(input.sha256, hash, input.upstream);
  }

  /**
   * Points a known URL at the artifact it now serves (its content changed upstream), moving its
   * reference from the old artifact, in one transaction. It locks the URL's row, then both
   * artifacts' rows in sha256 order: moves of one URL run one after another (each sees where the
   * last one left it, so the URL is counted once), and moves in opposite directions between two
   * artifacts cannot deadlock.
   */
  private async moveUrl(sha256: string, hash: string, upstream: string): Promise<RecordFetchedResult> {
    return this.prisma.$transaction(async (tx) => {
      const [url] = await tx.$queryRaw<Array<{ artifactSha256: string }>>`
        SELECT artifact_sha256 AS "artifactSha256" FROM cached_url WHERE url_hash = ${hash} FOR UPDATE`;
      if (!url) throw new Error(`cached URL ${hash} vanished while its artifact was recorded`);
      const from = url.artifactSha256;
      await tx.$queryRaw`SELECT 1 FROM artifact WHERE sha256 IN (${from}, ${sha256}) ORDER BY sha256 FOR UPDATE`;
      if (from === sha256) return { artifact: await tx.artifact.findUniqueOrThrow({ where: { sha256 } }), urlAdded: false };
      await tx.cachedUrl.update({ where: { urlHash: hash }, data: { artifactSha256: sha256, upstream } });
      await tx.artifact.updateMany({ where: { sha256: from, refCount: { gt: 0 } }, data: { refCount: { decrement: 1 } } });
      const artifact = await tx.artifact.update({ where: { sha256 }, data: { refCount: { increment: 1 } } });
      return { artifact, urlAdded: true };
    }, TRANSACTION_OPTIONS);
  }

  /** The artifact with this sha256, or null. */
  async find(sha256: string): Promise<Artifact | null> {
    return this.prisma.artifact.findUnique({ where: { sha256 } });
  }

  /** The artifact an upstream URL resolved to, or null when the URL was never fetched. */
  async findByUrl(url: string): Promise<Artifact | null> {
    const cached = await this.prisma.cachedUrl.findUnique({
      where: { urlHash: urlHash(url) },
      include: { artifact: true },
    });
    return cached?.artifact ?? null;
  }

  /**
   * Records the sha256 of the artifact's stored PEP 658 metadata file.
   * @returns false when no such artifact exists
   */
  async setMetadataSha256(sha256: string, metadataSha256: string): Promise<boolean> {
    const { count } = await this.prisma.artifact.updateMany({ where: { sha256 }, data: { metadataSha256 } });
    return count > 0;
  }

  /** How many artifacts are stored (of `protocol`, when given); evicted ones are not. */
  async count(protocol?: string): Promise<number> {
    return this.prisma.artifact.count({ where: { evictedAt: null, ...(protocol === undefined ? {} : { protocol }) } });
  }

  /**
   * Every stored artifact (not evicted), in sha256 order, fetched in keyset-paginated batches so a backfill over
   * millions of rows holds one batch in memory at a time.
   */
  async *listAll(options: ListAllOptions = {}): AsyncGenerator<ArtifactSummary> {
    const take = options.batchSize ?? 500;
    let after: string | undefined;
    for (;;) {
      const batch = await this.prisma.artifact.findMany({
        where: { evictedAt: null, ...(options.protocol === undefined ? {} : { protocol: options.protocol }), ...(after === undefined ? {} : { sha256: { gt: after } }) },
        orderBy: { sha256: 'asc' },
        take,
        select: { sha256: true, filename: true, project: true, storageKey: true },
      });
      yield* batch;
      const last = batch.at(-1);
      if (last === undefined || batch.length < take) return;
      after = last.sha256;
    }
  }
}
