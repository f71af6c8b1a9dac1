import { Agent, interceptors, request } from 'undici';
import { runPip } from '../../test/support/pip.js';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** Downloads a URL to nowhere; returns bytes read. Throws on a non-200. */
export async function drain(url: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await request(url, { headers, headersTimeout: 600_000, bodyTimeout: 600_000 });
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new Error(`${url}: ${res.statusCode}`);
  }
  let bytes = 0;
  for await (const chunk of res.body) bytes += (chunk as Buffer).length;
  return bytes;
}

// A peer may answer a file it is still downloading with a redirect to the upstream (proxpi does after 0.9 s).
const followingRedirects = new Agent().compose(interceptors.redirect({ maxRedirections: 3 }));

/**
 * Downloads `url` to nowhere, following redirects; returns seconds (since `started`, a
 * `performance.now()`) to the first body byte and to the end.
 */
export async function timedDownload(url: string, started = performance.now()): Promise<{ firstByte: number; done: number }> {
  const res = await request(url, { headersTimeout: 600_000, bodyTimeout: 600_000, dispatcher: followingRedirects });
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new Error(`${url}: ${res.statusCode}`);
  }
  let firstByte: number | undefined;
  for await (const chunk of res.body) {
    if ((chunk as Buffer).length > 0) firstByte ??= (performance.now() - started) / 1000;
  }
  const done = (performance.now() - started) / 1000;
  return { firstByte: firstByte ?? done, done };
}

/** Runs `count` jobs with at most `concurrency` at once; returns seconds taken. */
export async function timed(jobs: Array<() => Promise<unknown>>, concurrency: number): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < jobs.length) await jobs[next++]!();
    }),
  );
  return (performance.now() - started) / 1000;
}

/** A real pip install into a fresh target with no pip cache; returns seconds. */
export async function pipInstall(indexUrl: string, pkg: string): Promise<number> {
  const target = await mkdtemp(path.join(os.tmpdir(), 'orchard-bench-pip-'));
  const started = performance.now();
  const result = await runPip(['install', '--index-url', indexUrl, '--target', target, pkg], { timeoutMs: 300_000 });
  const seconds = (performance.now() - started) / 1000;
  await rm(target, { recursive: true, force: true });
  if (result.code !== 0) throw new Error(`pip install ${pkg} from ${indexUrl} failed:\n${result.stderr}`);
  return seconds;
}
