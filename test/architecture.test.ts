import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(path.join(ROOT, dir), { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.parentPath.includes('generated'))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
}

/** lib folder → the lib folders it imports, and any service it (wrongly) imports. */
async function libGraph(): Promise<{ edges: Map<string, Set<string>>; serviceImports: string[] }> {
  const edges = new Map<string, Set<string>>();
  const serviceImports: string[] = [];
  for (const file of await sourceFiles('libs')) {
    const from = file.split(path.sep)[1]!;
    const text = await readFile(path.join(ROOT, file), 'utf8');
    for (const match of text.matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
      const target = path.normalize(path.join(path.dirname(file), match[1]!)).split(path.sep);
      if (target[0] === 'services') serviceImports.push(`${file} → ${match[1]}`);
      if (target[0] === 'libs' && target[1] !== from) {
        if (!edges.has(from)) edges.set(from, new Set());
        edges.get(from)!.add(target[1]!);
      }
    }
  }
  return { edges, serviceImports };
}

function findCycle(edges: Map<string, Set<string>>): string[] | undefined {
  const visiting: string[] = [];
  const done = new Set<string>();
  const visit = (node: string): string[] | undefined => {
    const at = visiting.indexOf(node);
    if (at >= 0) return [...visiting.slice(at), node];
    if (done.has(node)) return undefined;
    visiting.push(node);
    for (const next of edges.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    visiting.pop();
    done.add(node);
    return undefined;
  };
  for (const node of edges.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

describe('architecture (STYLE.md practice 1)', () => {
  it('no lib imports a service, and the libs import each other without cycles', async () => {
    const { edges, serviceImports } = await libGraph();
    expect(serviceImports).toEqual([]);
    expect(findCycle(edges)).toBeUndefined();
    expect(edges.size).toBeGreaterThan(3);
  });

  it('finds a cycle when there is one', () => {
    const edges = new Map([
      ['a', new Set(['b'])],
      ['b', new Set(['c'])],
      ['c', new Set(['a'])],
    ]);
    expect(findCycle(edges)).toEqual(['a', 'b', 'c', 'a']);
  });
});
