import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

const LINK = /<a href="\.\.\/\.\.\/(files\/[^"#]+)(?:#[^"]*)?"([^>]*)>/g;

/**
 * Writes what Orchard serves for some projects as a static tree under `dir`: each project's HTML
 * page at `simple/<project>/index.html`, and every file it links (with its PEP 658 `.metadata`
 * file where the page advertises one) at the same `files/...` path. A static server on `dir` then
 * serves exactly Orchard's bytes at Orchard's URLs: the limit for an install through Orchard.
 */
export async function mirrorOrchard(orchardUrl: string, projects: readonly string[], dir: string): Promise<void> {
  for (const project of projects) {
    const page = await get(`${orchardUrl}/simple/${project}/`, { accept: 'text/html' });
    await put(path.join(dir, 'simple', project, 'index.html'), page);
    for (const [, file, attributes] of page.toString('utf8').matchAll(LINK)) {
      const target = decodeURIComponent(file!);
      await put(path.join(dir, target), await get(`${orchardUrl}/${file}`));
      if (/data-(core|dist-info)-metadata/.test(attributes!)) await put(path.join(dir, `${target}.metadata`), await get(`${orchardUrl}/${file}.metadata`));
    }
  }
}

async function get(url: string, headers: Record<string, string> = {}): Promise<Buffer> {
  const res = await fetch(url, { headers });
  if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

async function put(file: string, bytes: Buffer): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, bytes);
}
