import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../test/support/redis.js';
import { ArtifactCache, CacheKeys, PageCache, listedFileKey, type PageMeta } from '../cache/index.js';
import { pypiProtocol } from '../protocol/pypi/index.js';
import type { ProjectPage } from '../protocol/types.js';
import { ExtractedMetadata } from './extracted-metadata.js';
import { fileLinksFor } from './file-links.js';
import { buildPage, extractedMetadataCandidates } from './page-builder.js';

const links = fileLinksFor(pypiProtocol, { publicUrl: 'http://localhost:8080', prefix: '' });

const sha = (c: string) => c.repeat(64);
const WHEEL = sha('a');
const SDIST = sha('b');
const ADVERTISED = sha('c');
const UNHASHED = sha('d');

const upstreamPage: ProjectPage = {
  name: 'demo',
  meta: { 'api-version': '1.0' },
  files: [
    { filename: 'demo-1.0-py3-none-any.whl', url: 'https://up/demo-1.0-py3-none-any.whl', hashes: { sha256: WHEEL } },
    { filename: 'demo-1.0.tar.gz', url: 'https://up/demo-1.0.tar.gz', hashes: { sha256: SDIST } },
    { filename: 'demo-0.9-py3-none-any.whl', url: 'https://up/demo-0.9-py3-none-any.whl', hashes: { sha256: ADVERTISED }, coreMetadata: { sha256: sha('e') } },
    { filename: 'demo-0.8-py3-none-any.whl', url: 'https://up/demo-0.8-py3-none-any.whl', hashes: { sha256: UNHASHED }, coreMetadata: true },
    { filename: 'demo-0.7-py3-none-any.whl', url: 'https://up/demo-0.7-py3-none-any.whl', hashes: { md5: 'ff' } },
  ],
};

const jsonFiles = (body: Buffer | undefined) => (JSON.parse(body!.toString()) as { files: Array<Record<string, unknown>> }).files;

/** The file map's key of a file of `upstreamPage`, by its sha256. */
const listed = (sha256: string) => {
  const file = upstreamPage.files.find((f) => f.hashes.sha256 === sha256)!;
  return listedFileKey(sha256, file.filename);
};

describe('page builder: extracted metadata', () => {
  it('asks only about wheels the upstream gave no hashed metadata for', () => {
    expect(extractedMetadataCandidates(pypiProtocol, upstreamPage)).toEqual([WHEEL, UNHASHED]);
  });

  it('advertises extracted metadata in both formats, keeps the upstream’s own, and keeps the model upstream-only', async () => {
    const extracted = new Map([
      [WHEEL, sha('1')],
      [SDIST, sha('2')],
      [ADVERTISED, sha('3')],
      [UNHASHED, sha('4')],
    ]);
    const built = await buildPage(pypiProtocol, links, 'demo', 'up', upstreamPage, extracted);
    expect(built.extractedMetadata).toBe(2);
    expect(jsonFiles(built.bodies.json).map((f) => f['core-metadata'])).toEqual([{ sha256: sha('1') }, undefined, { sha256: sha('e') }, { sha256: sha('4') }]);
    const html = built.bodies.html!.toString();
    expect(html).toContain(`data-core-metadata="sha256=${sha('1')}" data-dist-info-metadata="sha256=${sha('1')}">demo-1.0-py3-none-any.whl`);
    expect(html).not.toContain(sha('2'));
    // The file map keeps what the upstream offers (used to fetch its metadata file), not Orchard's.
    expect(built.files.get(listed(WHEEL))?.coreMetadata).toBeUndefined();
    expect(built.files.get(listed(ADVERTISED))?.coreMetadata).toBe(sha('e'));
    expect(built.files.get(listed(UNHASHED))?.coreMetadata).toBe(true);
    expect(JSON.parse(built.bodies.model!.toString()).files[0]).not.toHaveProperty('coreMetadata');
    const plain = await buildPage(pypiProtocol, links, 'demo', 'up', upstreamPage);
    expect(plain.extractedMetadata).toBe(0);
    expect(plain.etag).not.toBe(built.etag);
  });
});

describe('ExtractedMetadata (real Redis)', () => {
  let redis: Redis;
  let keys: CacheKeys;
  let pages: PageCache;
  let artifacts: ArtifactCache;
  let extracted: ExtractedMetadata;

  const store = async (project: string, metaOverrides: Partial<PageMeta> = {}) => {
    const built = await buildPage(pypiProtocol, links, project, 'up', upstreamPage);
    const meta: PageMeta = { kind: 'page', etag: built.etag, fetchedAt: Date.now(), upstream: 'up', ...metaOverrides };
    await pages.put('pypi', project, meta, built.bodies, 600);
    return meta;
  };

  const prefixes: string[] = [];

  beforeAll(async () => {
    redis = new Redis(await testRedisUrl());
  });

  /** Each test gets its own key prefix (the artifact cache is global per prefix). */
  beforeEach(() => {
    const prefix = `test-${randomBytes(6).toString('hex')}`;
    prefixes.push(prefix);
    keys = new CacheKeys(prefix);
    pages = new PageCache(redis, keys);
    artifacts = new ArtifactCache(redis, keys);
    extracted = new ExtractedMetadata({ protocol: pypiProtocol, links, artifacts, pages });
  });

  afterAll(async () => {
    for (const prefix of prefixes) {
      const found = await redis.keys(`${prefix}:*`);
      if (found.length > 0) await redis.del(...found);
    }
    redis.disconnect();
  });

  it('flags the cached page when a file is extracted, and the next reader re-renders it once', async () => {
    const meta = await store('flagged');
    await artifacts.setExtracted('pypi', 'flagged', WHEEL, { size: 1, filename: 'demo-1.0-py3-none-any.whl', metadataSha256: sha('1') });
    const cached = await pages.get('pypi', 'flagged', 'json');
    expect(cached?.metadataFlag).toBeDefined();
    const rerendered = await extracted.rerender('flagged', cached!.metadataFlag);
    expect(rerendered?.meta).toMatchObject({ extractedMetadata: 1, fetchedAt: meta.fetchedAt, upstream: 'up' });
    expect(rerendered?.meta.etag).not.toBe(meta.etag);
    const after = await pages.get('pypi', 'flagged', 'json');
    expect(after?.metadataFlag).toBeUndefined();
    expect(after?.meta.etag).toBe(rerendered?.meta.etag);
    expect(jsonFiles(after?.body ?? undefined)[0]!['core-metadata']).toEqual({ sha256: sha('1') });
    // Nothing new: no re-render.
    expect(await extracted.rerender('flagged')).toBeNull();
  });

  it('clears a flag that brings nothing to advertise (an sdist), without re-rendering', async () => {
    const meta = await store('sdist-only');
    await artifacts.setExtracted('pypi', 'sdist-only', SDIST, { size: 1, filename: 'demo-1.0.tar.gz', metadataSha256: sha('2') });
    const flag = (await pages.get('pypi', 'sdist-only', 'html'))!.metadataFlag;
    expect(await extracted.rerender('sdist-only', flag)).toBeNull();
    const after = await pages.get('pypi', 'sdist-only', 'html');
    expect(after?.metadataFlag).toBeUndefined();
    expect(after?.meta.etag).toBe(meta.etag);
  });

  it('never overwrites a page refilled in between, nor clears a newer flag', async () => {
    await store('raced');
    await artifacts.setExtracted('pypi', 'raced', UNHASHED, { size: 1, filename: 'demo-0.8-py3-none-any.whl', metadataSha256: sha('4') });
    const before = await pages.getModel('pypi', 'raced');
    const refilled = await store('raced', { etag: 'refilled' });
    await artifacts.setExtracted('pypi', 'raced', WHEEL, { size: 1, filename: 'demo-1.0-py3-none-any.whl', metadataSha256: sha('1') });
    const replaced = await pages.replaceRendered('pypi', 'raced', before!.rawMeta, { ...before!.meta, etag: 'stale' }, { json: Buffer.from('{}') }, 'not-the-flag');
    expect(replaced).toBe(false);
    const after = await pages.get('pypi', 'raced', 'json');
    expect(after?.meta.etag).toBe(refilled.etag);
    expect(after?.metadataFlag).toBeDefined();
  });

  it('does nothing to a page that is not cached (and does not create one)', async () => {
    await artifacts.setExtracted('pypi', 'absent', WHEEL, { size: 1, filename: 'demo-1.0-py3-none-any.whl', metadataSha256: sha('1') });
    expect(await redis.exists(keys.key('index', 'pypi', 'absent'))).toBe(0);
    expect(await extracted.rerender('absent')).toBeNull();
    await artifacts.set('pypi', SDIST, { size: 1, filename: 'demo-1.0.tar.gz' });
    expect(await artifacts.metadataDigests('pypi', [WHEEL, SDIST, sha('9')])).toEqual(new Map([[WHEEL, sha('1')]]));
    expect(await artifacts.metadataDigests('pypi', [])).toEqual(new Map());
  });
});
