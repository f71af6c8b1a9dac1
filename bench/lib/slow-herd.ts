/**
 * A herd of clients on one cold file from a slow upstream (a large wheel on a slow link): how many
 * upstream GETs it costs, when each client gets its first byte, and the wall time, for Orchard and
 * for the same clients straight at the upstream, side by side in one run.
 */
import { buildWheel } from '../../test/support/dists.js';
import { FakeUpstream } from '../../test/support/upstream-server.js';
import { herd, type HerdTimes } from './herd.js';
import { startBenchOrchard } from './orchard.js';

export interface HerdFigures {
  clients: number;
  fileBytes: number;
  upstreamBytesPerSecond: number;
  /** Upstream GETs of the file caused by the herd through Orchard (the goal: 1). */
  upstreamGets: number;
  orchard: HerdTimes;
  direct: HerdTimes;
}

/** `clients` concurrent first requests for a `megabytes` MB wheel served at `bytesPerSecond`. */
export async function measureSlowHerd(options: { clients?: number; megabytes?: number; bytesPerSecond?: number } = {}): Promise<HerdFigures> {
  const clients = options.clients ?? 50;
  const bytesPerSecond = options.bytesPerSecond ?? 3_000_000;
  const wheel = await buildWheel({ name: 'herd', version: '1.0', padBytes: (options.megabytes ?? 30) * 1_000_000 });
  const upstream = new FakeUpstream();
  upstream.format = 'html';
  upstream.publish('herd', { filename: wheel.filename, bytes: wheel.bytes });
  // Each connection is served at this rate: one slow link per download.
  const chunkBytes = Math.round(bytesPerSecond / 10);
  upstream.fileFaults.set(wheel.filename, { kind: 'slow', chunkBytes, intervalMs: 100 });
  await upstream.start();
  const orchard = await startBenchOrchard(upstream.url);
  try {
    const base = orchard.orchard.url;
    const page = await fetch(`${base}/simple/herd/`);
    if (page.status !== 200) throw new Error(`herd page: ${page.status}`);
    const viaOrchard = await herd(() => `${base}/files/herd/${wheel.sha256}/${wheel.filename}`, clients);
    const fileGets = () => upstream.requests.filter((r) => r.method === 'GET' && r.path === `/files/${wheel.filename}`).length;
    const upstreamGets = fileGets();
    const direct = await herd(() => `${upstream.url.replace(/\/simple\/$/, '')}/files/${wheel.filename}`, clients);
    return { clients, fileBytes: wheel.bytes.length, upstreamBytesPerSecond: bytesPerSecond, upstreamGets, orchard: viaOrchard, direct };
  } finally {
    await orchard.stop();
    await upstream.stop();
  }
}
