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
  /** A 35 MB wheel (a typical large wheel: the concurrent-stream figure). */
  medium: CorpusFile;
  big: CorpusFile;
  huge: CorpusFile;
  /** A 1 MB wheel nothing else requests: the herd's cold file. */
  herd: CorpusFile;
}

export interface CorpusFile {
  project: string;
  filename: string;
  sha256: string;
  size: number;
}

const VERSION = 'v2';
const SMALL_PROJECTS = 300;
const TREE = 25;

/**
 * Generates (once, then reuses) a PEP 503 tree: hundreds of small projects, a 25-package dependency
 * tree, a 1 MB, a 35 MB, a 200 MB and a 1 GB wheel. Wheels are real and pip-installable.
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

  const large: Record<'herd' | 'medium' | 'big' | 'huge', CorpusFile> = {
    herd: await bigFile(dir, 'herd-wheel', 1024 * 1024),
    medium: await bigFile(dir, 'medium-wheel', 35 * 1024 * 1024),
    big: await bigFile(dir, 'big-wheel', 200 * 1024 * 1024),
    huge: await bigFile(dir, 'huge-wheel', 1024 * 1024 * 1024),
  };
  for (const file of Object.values(large)) projects.push({ name: file.project, files: [{ filename: file.filename, existing: file }] });
  await writeSimpleIndex(dir, projects);

  const corpus: Corpus = {
    root: dir,
    hotProject: 'hot-project',
    treeRoot: 'tree-root',
    treeSize: TREE,
    smallProjects,
    ...large,
  };
  await writeFile(marker, JSON.stringify(corpus));
  return corpus;
}

async function small(name: string, version: string, requiresDist: string[], padBytes = 0): Promise<IndexFile> {
  const w = await buildWheel({ name, version, requiresDist, ...(padBytes ? { padBytes } : {}) });
  return { filename: w.filename, bytes: w.bytes };
}

async function bigFile(dir: string, name: string, padBytes: number): Promise<CorpusFile> {
  const file = path.join(dir, 'files', `${wheelName(name)}-1.0.0-py3-none-any.whl`);
  const built = await buildWheelToFile(file, { name, version: '1.0.0', padBytes });
  return { project: name, filename: built.filename, sha256: built.sha256, size: built.size };
}
