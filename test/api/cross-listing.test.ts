/**
 * One sha256, several listings (attack review, issue 12 §1–3): what one project's page says about a
 * file's bytes never changes what another project's clients get. Metadata files are stored by their
 * own digest; a file is served under every name a current listing gives it; a failed download
 * answers only requests for the listing that failed.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { runPip } from '../support/pip.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { request, waitFor } from './http.js';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
type Wheel = Awaited<ReturnType<typeof buildWheel>>;

describe('one sha256 in several listings', () => {
  const upstream = new FakeUpstream();
  let orchard: OrchardProcesses;
  const targets: string[] = [];
  const wheels = {} as Record<'real-dep' | 'evil-backdoor' | 'victim' | 'victimTwo' | 'shared' | 'pinned', Wheel>;

  const fileUrl = (project: string, sha: string, filename: string) => `${orchard.gatewayUrl}/files/${project}/${sha}/${filename}`;
  const upstreamGets = (filename: string) => upstream.requests.filter((r) => r.method === 'GET' && r.path === `/files/${filename}`).length;
  /** The whole file's name another project gives the victim's bytes. */
  const alias = (project: string) => `${project.replace(/-/g, '_')}-1.0-py3-none-any.whl`;
  const install = async (project: string) => {
    const target = await mkdtemp(path.join(os.tmpdir(), 'orchard-cross-'));
    targets.push(target);
    const result = await runPip(['install', '--index-url', `${orchard.gatewayUrl}/simple/`, '--target', target, project]);
    return { result, installed: result.code === 0 ? await readdir(target) : [] };
  };

  beforeAll(async () => {
    upstream.format = 'html';
    for (const name of ['real-dep', 'evil-backdoor'] as const) {
      wheels[name] = await buildWheel({ name, version: '1.0' });
      upstream.publish(name, { filename: wheels[name].filename, bytes: wheels[name].bytes });
    }
    wheels.victim = await buildWheel({ name: 'victim', version: '1.0', requiresDist: ['real-dep'] });
    wheels.victimTwo = await buildWheel({ name: 'victim-two', version: '1.0', requiresDist: ['real-dep'] });
    wheels.shared = await buildWheel({ name: 'shared-a', version: '1.0' });
    wheels.pinned = await buildWheel({ name: 'pin-d', version: '1.0' });
    const evil = await buildWheel({ name: 'victim', version: '1.0', requiresDist: ['evil-backdoor'] });

    // The victim's upstream advertises its metadata file without a hash (as some private indexes do).
    upstream.publish('victim', { filename: wheels.victim.filename, bytes: wheels.victim.bytes, metadata: wheels.victim.metadata, metadataAdvertised: 'true' });
    // Another project lists the victim's bytes under its own name, with a metadata file of its own.
    upstream.publish('innocent-tool', { filename: alias('innocent-tool'), bytes: wheels.victim.bytes, metadata: evil.metadata, metadataAdvertised: 'true' });
    // The variant: the victim offers no metadata, so Orchard advertises what it extracts.
    upstream.publish('victim-two', { filename: wheels.victimTwo.filename, bytes: wheels.victimTwo.bytes });
    upstream.publish('innocent-two', { filename: alias('innocent-two'), bytes: wheels.victimTwo.bytes, metadata: evil.metadata, metadataAdvertised: 'true' });

    // One file, two projects' names, and a page listing it twice.
    upstream.publish('shared-a', { filename: wheels.shared.filename, bytes: wheels.shared.bytes });
    upstream.publish('shared-b', { filename: alias('shared-b'), bytes: wheels.shared.bytes });
    upstream.publish('shared-b', { filename: 'shared_b-1.0.post1-py3-none-any.whl', bytes: wheels.shared.bytes });

    // A project whose link to another project's bytes serves garbage.
    upstream.publish('pin-c', { filename: alias('pin-c'), bytes: wheels.pinned.bytes });
    upstream.tampered.add(alias('pin-c'));
    upstream.publish('pin-d', { filename: wheels.pinned.filename, bytes: wheels.pinned.bytes });

    await upstream.start();
    orchard = await OrchardProcesses.start({ upstreams: `local=${upstream.url}` });
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    await orchard?.stop();
    await upstream.stop();
    await Promise.all(targets.map((t) => rm(t, { recursive: true, force: true })));
  });

  it("does not let another project's unhashed metadata inject a dependency into pip's install", async () => {
    const poisoned = await request(`${fileUrl('innocent-tool', wheels.victim.sha256, alias('innocent-tool'))}.metadata`);
    // That listing's own answer is the upstream's, passed through: never stored, never cached by clients.
    expect(poisoned.status).toBe(200);
    expect(poisoned.headers['cache-control']).toBe('no-store');
    expect(poisoned.headers['x-orchard-cache']).toBe('pass-through');

    const { result, installed } = await install('victim');
    expect(result.code, result.stderr).toBe(0);
    expect(installed).toContain('real_dep');
    expect(installed).not.toContain('evil_backdoor');
    expect(upstreamGets(wheels['evil-backdoor'].filename)).toBe(0);
    expect(upstreamGets(wheels['real-dep'].filename)).toBe(1);

    // Once Orchard has the wheel, its own METADATA is the answer to every unhashed listing of it.
    const again = await request(`${fileUrl('innocent-tool', wheels.victim.sha256, alias('innocent-tool'))}.metadata`);
    expect(again.body.equals(wheels.victim.metadata)).toBe(true);
  });

  it('serves the metadata Orchard extracted under its own digest, whatever another listing stored first', async () => {
    const poisoned = await request(`${fileUrl('innocent-two', wheels.victimTwo.sha256, alias('innocent-two'))}.metadata`);
    expect(poisoned.status).toBe(200);
    const wheel = await request(fileUrl('victim-two', wheels.victimTwo.sha256, wheels.victimTwo.filename));
    expect(wheel.status).toBe(200);
    const digest = sha256(wheels.victimTwo.metadata);
    await waitFor('the page to advertise the extracted metadata', async () => {
      const page = await request(`${orchard.gatewayUrl}/simple/victim-two/`, { headers: { accept: 'text/html' } });
      return page.body.toString().includes(`data-core-metadata="sha256=${digest}"`) ? true : undefined;
    });
    const metadata = await request(`${fileUrl('victim-two', wheels.victimTwo.sha256, wheels.victimTwo.filename)}.metadata`);
    expect(metadata.status).toBe(200);
    expect(sha256(metadata.body)).toBe(digest);

    const { result, installed } = await install('victim-two');
    expect(result.code, result.stderr).toBe(0);
    expect(installed).toContain('real_dep');
    expect(installed).not.toContain('evil_backdoor');
  });

  it('serves a file under every name a current listing gives it, downloading it once', async () => {
    const first = await request(fileUrl('shared-a', wheels.shared.sha256, wheels.shared.filename));
    expect(first.status).toBe(200);
    for (const name of [alias('shared-b'), 'shared_b-1.0.post1-py3-none-any.whl']) {
      const res = await request(fileUrl('shared-b', wheels.shared.sha256, name));
      expect(res.status, name).toBe(200);
      expect(sha256(res.body)).toBe(wheels.shared.sha256);
      expect(res.headers['content-disposition']).toBe(`attachment; filename="${name}"`);
    }
    // A name no listing gives the bytes stays a 404.
    const unlisted = await request(fileUrl('shared-b', wheels.shared.sha256, 'shared_b-2.0-py3-none-any.whl'));
    expect(unlisted.status).toBe(404);
    const downloads = [wheels.shared.filename, alias('shared-b'), 'shared_b-1.0.post1-py3-none-any.whl'].map(upstreamGets);
    expect(downloads.reduce((a, b) => a + b, 0)).toBe(1);
  });

  it("never answers one listing's request with another listing's failed download", async () => {
    const failed = await request(fileUrl('pin-c', wheels.pinned.sha256, alias('pin-c')));
    expect(failed.status).toBe(502);
    expect(failed.body.toString()).toMatch(/does not match its published sha256/);
    expect(failed.body.toString()).toContain(alias('pin-c'));

    const res = await request(fileUrl('pin-d', wheels.pinned.sha256, wheels.pinned.filename));
    expect(res.status, res.body.toString()).toBe(200);
    expect(sha256(res.body)).toBe(wheels.pinned.sha256);
    expect(res.body.toString()).not.toContain(alias('pin-c'));
    expect(upstreamGets(wheels.pinned.filename)).toBe(1);
  });
});
