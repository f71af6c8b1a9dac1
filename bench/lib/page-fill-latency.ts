/**
 * The latency of a cached page while a maximal upstream page fills in the same gateway: the p99 of
 * a warm page with no fill, and again while pages at the default limits (ORCHARD_MAX_PAGE_FILES
 * files, under ORCHARD_MAX_PAGE_BYTES) are filled one after another, side by side in one run.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadSettings } from '../../libs/config/index.js';
import { drain } from './clients.js';
import { startBenchOrchard } from './orchard.js';
import { RssSampler, type RssPeaks } from './rss.js';
import { runWrk, type LoadResult } from './wrk.js';

export interface FillLatency {
  files: number;
  pageBytes: number;
  idle: LoadResult;
  filling: LoadResult;
  /** Maximal pages filled while `filling` was measured, and the mean seconds one took. */
  fills: number;
  secondsPerFill: number;
  gatewayPeakRss: RssPeaks;
}

/** A PyPI-like HTML page of `files` links (about 560 bytes each, as PyPI's with metadata hashes). */
function maximalPage(files: number): Buffer {
  const parts = ['<!DOCTYPE html><html><head><meta name="pypi:repository-version" content="1.1"><title>Links for huge</title></head><body><h1>Links for huge</h1>\n'];
  for (let i = 0; i < files; i++) {
    const sha = createHash('sha256').update(String(i)).digest('hex');
    const name = `huge-${i}.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl`;
    parts.push(
      `<a href="https://files.example/packages/${sha.slice(0, 2)}/${sha.slice(2, 4)}/${sha}/${name}#sha256=${sha}" data-requires-python="&gt;=3.8" data-core-metadata="sha256=${sha}" data-dist-info-metadata="sha256=${sha}">${name}</a><br />\n`,
    );
  }
  parts.push('</body></html>\n');
  return Buffer.from(parts.join(''));
}

const SMALL_PAGE = Buffer.from(
  `<!DOCTYPE html><html><body><a href="https://files.example/small-1.0-py3-none-any.whl#sha256=${'a'.repeat(64)}">small-1.0-py3-none-any.whl</a></body></html>`,
);

/** Measures {@link FillLatency} for `seconds` per side with `connections` wrk connections. */
export async function measureCachedPageDuringFill(seconds: number, connections = 32): Promise<FillLatency> {
  const defaults = loadSettings({});
  const huge = maximalPage(defaults.maxPageFiles);
  if (huge.length > defaults.maxPageBytes) throw new Error(`the maximal page (${huge.length} bytes) is over ORCHARD_MAX_PAGE_BYTES`);
  const upstream = http.createServer((req, res) => {
    const body = req.url === '/simple/small/' ? SMALL_PAGE : req.url?.startsWith('/simple/huge/') ? huge : undefined;
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/html', 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const token = randomBytes(16).toString('hex');
  const { orchard, stop } = await startBenchOrchard(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}/simple/`, { ORCHARD_ADMIN_TOKEN: token }, ['gateway']);
  try {
    const small = `${orchard.url}/simple/small/`;
    await drain(small);
    const idle = await runWrk(small, { connections, seconds });
    const rss = new RssSampler(orchard.pid('gateway')).start();
    let fills = 0;
    let fillSeconds = 0;
    let measuring = true;
    // Fills the same page again and again (dropped from the cache between fills, so Redis holds one).
    const filler = (async () => {
      while (measuring) {
        const started = performance.now();
        await drain(`${orchard.url}/simple/huge/`);
        if (!measuring) break;
        fills++;
        fillSeconds += (performance.now() - started) / 1000;
        const dropped = await fetch(`${orchard.url}/api/v1/admin/cache/pages/huge`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
        if (!dropped.ok) throw new Error(`could not drop the maximal page: ${dropped.status}`);
      }
    })();
    const filling = await runWrk(small, { connections, seconds });
    measuring = false;
    await filler;
    return {
      files: defaults.maxPageFiles,
      pageBytes: huge.length,
      idle,
      filling,
      fills,
      secondsPerFill: fills > 0 ? fillSeconds / fills : NaN,
      gatewayPeakRss: await rss.stop(),
    };
  } finally {
    await stop();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  }
}
