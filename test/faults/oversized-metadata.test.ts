/**
 * Oversized metadata through the real services: a wheel with 9.9 MB of METADATA and 330,000
 * `Requires-Dist` lines is refused by a real extractor process (recorded as failed, no rows), whose
 * resident memory stays under its Kubernetes limit (512 MiB); wheels at the requirement bound are
 * stored, and concurrent JSON API calls over them get bounded pages while the gateway's memory stays
 * flat and /health answers at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_REQUIREMENTS } from '../../libs/protocol/pypi/index.js';
import { buildWheel, type BuiltDist } from '../support/dists.js';
import { OrchardProcesses } from '../support/orchard.js';
import { FakeUpstream } from '../support/upstream-server.js';
import { getBytes, getText, rssBytes, waitFor } from './support/helpers.js';

const MiB = 1024 * 1024;
const EXTRACTOR_LIMIT = 512 * MiB;
const GATEWAY_LIMIT = 1024 * MiB;

describe('oversized metadata', () => {
  const upstream = new FakeUpstream();
  let orchard: OrchardProcesses;
  let attack: BuiltDist & { metadata: Buffer };
  const hubs: BuiltDist[] = [];
  const pid = (service: 'gateway' | 'extractor') => orchard.children.get(service)!.pid!;

  /** Samples a process's resident memory every 25 ms while `work` runs; returns the peak. */
  async function peakRss(service: 'gateway' | 'extractor', work: () => Promise<void>): Promise<number> {
    let peak = await rssBytes(pid(service));
    let running = true;
    const sampler = (async () => {
      while (running) {
        peak = Math.max(peak, await rssBytes(pid(service)));
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();
    try {
      await work();
    } finally {
      running = false;
      await sampler;
    }
    return peak;
  }

  async function api(path: string): Promise<{ status: number; body: Record<string, any>; bytes: number }> {
    const res = await getText(`${orchard.gatewayUrl}${path}`, { timeoutMs: 30_000 });
    return { status: res.status, body: JSON.parse(res.text) as Record<string, any>, bytes: Buffer.byteLength(res.text) };
  }

  async function extracted(sha256: string): Promise<Record<string, any>> {
    return waitFor(
      `extraction of ${sha256}`,
      async () => {
        const res = await api(`/api/v1/artifacts/${sha256}?limit=1`);
        return res.status === 200 && res.body.metadataStatus !== 'pending' ? res.body : undefined;
      },
      60_000,
    );
  }

  beforeAll(async () => {
    const lines = Array.from({ length: 330_000 }, (_, i) => `dep-${i}>=1.0`);
    attack = await buildWheel({ name: 'attack', version: '1.0', requiresDist: lines });
    expect(attack.metadata.length).toBeGreaterThan(9 * MiB);
    upstream.publish('attack', { filename: attack.filename, bytes: attack.bytes });
    // At the bound: every requirement names `hub`, so its dependents are many.
    for (const version of ['1.0', '2.0', '10.0']) {
      const reqs = Array.from({ length: MAX_REQUIREMENTS }, (_, i) => `hub>=${i}.${version}; python_version >= "3.${i % 20}"`);
      const wheel = await buildWheel({ name: 'wide', version, requiresDist: reqs });
      hubs.push(wheel);
      upstream.publish('wide', { filename: wheel.filename, bytes: wheel.bytes });
    }
    await upstream.start();
    orchard = await OrchardProcesses.start({ upstreams: `local=${upstream.url}`, services: ['gateway', 'fetcher', 'extractor'] });
  });

  afterAll(async () => {
    if (process.env.ORCHARD_TEST_LOGS) for (const [name, log] of Object.entries(orchard?.logs ?? {})) console.log(`--- ${name}\n${log}`);
    await orchard?.stop();
    await upstream.stop();
  });

  it('refuses 330,000 requirements in 9.9 MB of METADATA, recorded as failed, under the extractor limit', async () => {
    expect((await getText(`${orchard.gatewayUrl}/simple/attack/`)).status).toBe(200);
    let facts: Record<string, any> = {};
    const peak = await peakRss('extractor', async () => {
      expect((await getBytes(`${orchard.gatewayUrl}/files/attack/${attack.sha256}/${attack.filename}`)).status).toBe(200);
      facts = await extracted(attack.sha256);
    });
    expect(facts).toMatchObject({ metadataStatus: 'failed', metadataError: 'METADATA larger than 4 MiB', dependencies: [], metadataSha256: null });
    expect(peak).toBeLessThan(EXTRACTOR_LIMIT);
  });

  it(`stores wheels at the bound (${MAX_REQUIREMENTS} requirements) and answers the JSON API in bounded pages under concurrency`, async () => {
    expect((await getText(`${orchard.gatewayUrl}/simple/wide/`)).status).toBe(200);
    const extractorPeak = await peakRss('extractor', async () => {
      for (const wheel of hubs) expect((await getBytes(`${orchard.gatewayUrl}/files/wide/${wheel.sha256}/${wheel.filename}`)).status).toBe(200);
      for (const wheel of hubs) expect(await extracted(wheel.sha256)).toMatchObject({ metadataStatus: 'ok' });
    });
    expect(extractorPeak).toBeLessThan(EXTRACTOR_LIMIT);

    const paths = [`/api/v1/artifacts/${hubs[0]!.sha256}`, '/api/v1/projects/wide/versions/1.0/dependencies', '/api/v1/projects/hub/dependents'];
    for (const path of paths) {
      const { status, body, bytes } = await api(path);
      expect(status, path).toBe(200);
      expect(body.nextCursor, path).toEqual(expect.any(String));
      expect(bytes, path).toBeLessThan(2 * MiB);
    }
    const healthMs: number[] = [];
    const before = await rssBytes(pid('gateway'));
    const gatewayPeak = await peakRss('gateway', async () => {
      const load = Promise.all(
        Array.from({ length: 16 }, async (_, i) => {
          for (let round = 0; round < 5; round++) expect((await api(paths[(i + round) % paths.length]!)).status).toBe(200);
        }),
      );
      const health = (async () => {
        for (let i = 0; i < 10; i++) {
          const t = performance.now();
          expect((await getText(`${orchard.gatewayUrl}/health`)).status).toBe(200);
          healthMs.push(performance.now() - t);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      })();
      await Promise.all([load, health]);
    });
    expect(gatewayPeak).toBeLessThan(GATEWAY_LIMIT);
    expect(gatewayPeak - before).toBeLessThan(256 * MiB);
    expect(Math.max(...healthMs)).toBeLessThan(2_000);
  });
});
