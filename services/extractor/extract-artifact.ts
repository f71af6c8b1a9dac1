import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ArtifactCache } from '../../libs/cache/index.js';
import type { ReleaseRepository } from '../../libs/db/index.js';
import { errorReason, type Logger } from '../../libs/log/index.js';
import { ArtifactMetadataError, type ArtifactSource, type ProtocolAdapter, type ProtocolRegistry } from '../../libs/protocol/index.js';
import { UnrecoverableError, type ExtractJob } from '../../libs/queue/index.js';
import { blobKey, metadataKey, type BlobStore, sha256Digest } from '../../libs/storage/index.js';

/** An sdist is streamed only until its PKG-INFO, which comes early: read ahead little. */
const SDIST_READ_AHEAD = 64 * 1024;

export interface ExtractDeps {
  /** Each job is read by the adapter of its protocol. */
  protocols: ProtocolRegistry;
  store: BlobStore;
  /** The releases of a protocol (recorded in its names and versions). */
  releases: (protocol: string) => ReleaseRepository;
  artifactCache: ArtifactCache;
  logger: Logger;
}

export type ExtractOutcome = { status: 'ok'; dependencies: number } | { status: 'failed' | 'unsupported'; reason: string };

/**
 * The `extract` job: read one stored artifact's core metadata, write its release and dependency rows
 * in one transaction, and store the METADATA bytes as its PEP 658 file. A broken or hostile file is
 * recorded on the release with its reason and not retried; nothing partial is written.
 */
export function createExtractHandler(deps: ExtractDeps) {
  return async (job: ExtractJob): Promise<ExtractOutcome> => {
    const protocol = deps.protocols.get(job.protocol);
    const key = blobKey(job.sha256);
    const stat = await deps.store.stat(key);
    if (!stat) {
      const reason = 'file not in storage';
      // The job fails for good either way; a release left unmarked is only a missing reason.
      await recordFailure(deps, protocol, job, { status: 'failed', reason }).catch((err: unknown) =>
        deps.logger.warn({ sha256: job.sha256, err: errorReason(err) }, 'could not record that the file is missing from storage'),
      );
      throw new UnrecoverableError(`artifact ${job.sha256}: ${reason}`);
    }
    const source: ArtifactSource = {
      size: stat.size,
      read: (start, end) => deps.store.readRange(key, { start, end }),
      open: async () => {
        const blob = await deps.store.get(key, { highWaterMark: SDIST_READ_AHEAD });
        if (!blob) throw new Error(`artifact ${job.sha256} disappeared from storage`);
        return blob.body;
      },
    };
    let extracted;
    try {
      extracted = await protocol.extractMetadata(job.filename, source);
    } catch (err) {
      if (!(err instanceof ArtifactMetadataError)) throw err;
      const failure = { status: err.status, reason: err.reason };
      await recordFailure(deps, protocol, job, failure);
      deps.logger.warn({ sha256: job.sha256, filename: job.filename, ...failure }, 'metadata not extracted');
      if (failure.status === 'unsupported') return failure;
      throw new UnrecoverableError(`${job.filename}: ${failure.reason}`);
    }
    const { metadata, requirements } = extracted;
    // The metadata file goes first, under its own digest (so nothing else can occupy its key), and it
    // is advertised (metadataSha256) only by the transaction below, together with the facts.
    const metadataSha256 = createHash('sha256').update(extracted.bytes).digest('hex');
    await deps.store.put(metadataKey(metadataSha256), Readable.from([extracted.bytes]), {
      expected: sha256Digest(metadataSha256),
      contentType: 'text/plain; charset=utf-8',
    });
    const { dependencies } = await deps.releases(job.protocol).recordExtraction({
      artifactSha256: job.sha256,
      project: job.project,
      version: metadata.version,
      requiresPython: metadata.requiresPython ?? null,
      summary: metadata.summary ?? null,
      metadataVersion: metadata.metadataVersion ?? null,
      dependenciesKnown: extracted.dependenciesKnown,
      providesExtra: metadata.providesExtra,
      dynamic: metadata.dynamic,
      licenseExpression: metadata.licenseExpression ?? null,
      // A Requirement is a DependencyInput: the repository picks the columns and stores absent fields as null.
      dependencies: requirements.map((r) => ({ ...r, name: r.normalizedName })),
      metadataSha256,
    });
    // setExtracted also flags the project's cached page, which then re-renders to advertise this
    // metadata file (PEP 658) even when the upstream did not (see ExtractedMetadata in libs/pages).
    await deps.artifactCache
      .setExtracted(job.protocol, job.project, job.sha256, { size: stat.size, filename: job.filename, metadataSha256 })
      .catch((err: unknown) => deps.logger.debug({ sha256: job.sha256, err: errorReason(err) }, 'could not cache the extracted artifact record'));
    return { status: 'ok', dependencies };
  };
}

async function recordFailure(deps: ExtractDeps, protocol: ProtocolAdapter, job: ExtractJob, failure: { status: 'failed' | 'unsupported'; reason: string }): Promise<void> {
  await deps.releases(job.protocol).recordFailure({
    artifactSha256: job.sha256,
    project: job.project,
    version: protocol.versionFromFilename(job.filename),
    status: failure.status,
    reason: failure.reason,
  });
}
