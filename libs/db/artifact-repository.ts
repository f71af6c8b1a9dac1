import type { Artifact, PrismaClient } from './client.js';
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
   * Records a verified, stored file and the URL it came from, in one transaction. The artifact's
   * `refCount` counts distinct URLs: it grows by one, atomically in SQL, only when this URL is new
   * for this artifact; a re-fetch of a known URL only touches `lastFetchedAt`.
   */
  async recordFetched(input: FetchedArtifact): Promise<RecordFetchedResult> {
    const now = new Date();
    const url = canonicalUrl(input.url);
    const hash = urlHash(url);
    return this.prisma.$transaction(async (tx) => {
      // Native INSERT … ON CONFLICT DO UPDATE: it locks the artifact row, so concurrent records of
      // one artifact serialise here. A new artifact starts at 0 and counts its first URL below.
      const artifact = await tx.artifact.upsert({
        where: { sha256: input.sha256 },
        create: {
          sha256: input.sha256,
          size: BigInt(input.size),
          filename: input.filename,
          project: input.project,
          protocol: input.protocol,
          storageKey: input.storageKey,
          refCount: 0,
          createdAt: now,
          lastFetchedAt: now,
        },
        // Stored again: no longer evicted (a download after an eviction counts as a fetch).
        update: { lastFetchedAt: now, evictedAt: null, ...(input.downloaded ? { fetchCount: { increment: 1 } } : {}) },
      });
      const inserted = await tx.cachedUrl.createMany({
        data: [{ urlHash: hash, url, upstream: input.upstream, artifactSha256: input.sha256, createdAt: now }],
        skipDuplicates: true,
      });
      if (inserted.count === 0) {
        const existing = await tx.cachedUrl.findUniqueOrThrow({ where: { urlHash: hash } });
        if (existing.artifactSha256 === input.sha256) return { artifact, urlAdded: false };
        // The URL now serves different bytes: move it, and its reference, to the new content.
        await tx.cachedUrl.update({
          where: { urlHash: hash },
          data: { artifactSha256: input.sha256, upstream: input.upstream },
        });
        await tx.artifact.updateMany({
          where: { sha256: existing.artifactSha256, refCount: { gt: 0 } },
          data: { refCount: { decrement: 1 } },
        });
      }
      const counted = await tx.artifact.update({
        where: { sha256: input.sha256 },
        data: { refCount: { increment: 1 } },
      });
      return { artifact: counted, urlAdded: true };
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
