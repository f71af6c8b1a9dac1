import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildWheel, buildWheelToFile, wheelName, writeSimpleIndex, type IndexFile } from '../../test/support/dists.js';

/** What the benchmarks use from the generated upstream. */
export interface Corpus {
  root: string;
  /** A project whose page is about the size of a typical PyPI page (~6–8 KB of HTML). */
  hotProject: string;
  /** The root of a 25-package dependency tree. */
  treeRoot: string;
  treeSize: number;
  smallProjects: string[];
  big: { project: string; filename: string; sha256: string; size: number };
  huge: { project: string; filename: string; sha256: string; size: number };
}

const VERSION = 'v1';
const SMALL_PROJECTS = 300;
const TREE = 25;

/**
 * Generates (once, then reuses) a PEP 503 tree: hundreds of small projects, a 25-package dependency
 * tree, a 200 MB wheel and a 1 GB wheel. Wheels are real and pip-installable.
 */
export async function ensureCorpus(dir: string): Promise<Corpus> {
  const marker = path.join(dir, `corpus-${VERSION}.json`);
  if (existsSync(marker)) return JSON.parse(await readFile(marker, 'utf8')) as Corpus;
  await rm(dir, { recursive: true, force: true });
  await mkdir(path.join(dir, 'files'), { recursive: true });
  const projects: Array<{ name: string; files: IndexFile[] }> = [];

  const hot: IndexFile[] = [];
  for (let i = 0; i < 30; i++) {
    const w = await buildWheel({ name: 'hot-project', version: `1.${i}.0`, requiresPython: '>=3.8', requiresDist: ['tree-dep-1'] });
    hot.push({ filename: w.filename, bytes: w.bytes, requiresPython: '>=3.8' });
  }
  projects.push({ name: 'hot-project', files: hot });

  const deps = Array.from({ length: TREE - 1 }, (_, i) => `tree-dep-${i + 1}`);
  projects.push({ name: 'tree-root', files: [await small('tree-root', '1.0.0', deps.slice(0, 8))] });
  for (let i = 0; i < deps.length; i++) {
    // A tree, not a star: each of the first eight pulls in two more.
    const children = i < 8 ? deps.slice(8 + i * 2, 10 + i * 2) : [];
    projects.push({ name: deps[i]!, files: [await small(deps[i]!, '1.0.0', children), await small(deps[i]!, '0.9.0', [])] });
  }

  const smallProjects: string[] = [];
  for (let i = 0; i < SMALL_PROJECTS; i++) {
    const name = `bench-small-${i}`;
    smallProjects.push(name);
    projects.push({ name, files: [await small(name, '1.0.0', [], 4096)] });
  }

  const bigWheel = await bigFile(dir, 'big-wheel', 200 * 1024 * 1024);
  const hugeWheel = await bigFile(dir, 'huge-wheel', 1024 * 1024 * 1024);
  projects.push({ name: 'big-wheel', files: [{ filename: bigWheel.filename, existing: bigWheel }] });
  projects.push({ name: 'huge-wheel', files: [{ filename: hugeWheel.filename, existing: hugeWheel }] });
  await writeSimpleIndex(dir, projects);

  const corpus: Corpus = {
    root: dir,
    hotProject: 'hot-project',
    treeRoot: 'tree-root',
    treeSize: TREE,
    smallProjects,
    big: { project: 'big-wheel', filename: bigWheel.filename, sha256: bigWheel.sha256, size: bigWheel.size },
    huge: { project: 'huge-wheel', filename: hugeWheel.filename, sha256: hugeWheel.sha256, size: hugeWheel.size },
  };
  await writeFile(marker, JSON.stringify(corpus));
  return corpus;
}

async function small(name: string, version: string, requiresDist: string[], padBytes = 0): Promise<IndexFile> {
  const w = await buildWheel({ name, version, requiresDist, ...(padBytes ? { padBytes } : {}) });
  return { filename: w.filename, bytes: w.bytes };
}

function bigFile(dir: string, name: string, padBytes: number) {
  const file = path.join(dir, 'files', `${wheelName(name)}-1.0.0-py3-none-any.whl`);
  return buildWheelToFile(file, { name, version: '1.0.0', padBytes });
}
