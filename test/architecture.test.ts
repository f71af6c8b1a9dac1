import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import ts from 'typescript';
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

const PROTOCOLS = 'libs/protocol';
/** The one module outside an implementation's folder that may import implementations (it registers them). */
const REGISTRATION = 'libs/protocol/registered-protocols.ts';
/** Names no code outside their implementation may use: the protocol boundary is not nominal. */
// `npm run …` in a message names the tool that runs Orchard's scripts, not the protocol.
const PROTOCOL_NAMES: Record<string, RegExp> = { pypi: /pypi/i, npm: /npm(?! run )/i };
/**
 * An environment variable's name (`ORCHARD_NPM_UPSTREAMS`): the settings schema declares each one,
 * deployment files are checked against it, and naming a protocol there is configuration, not a
 * dependency on the implementation.
 */
const VARIABLE_NAME = /^['"`]?ORCHARD_[A-Z0-9_]+['"`]?$/;

interface SourceText {
  /** Path from the repository root, with `/` separators. */
  file: string;
  text: string;
}

/**
 * Where code crosses the protocol boundary (issue 13): a file outside `libs/protocol/<impl>/` that
 * imports from an implementation folder (only {@link REGISTRATION} may), or names a protocol in code
 * (an identifier, string, template or regex containing it). Comments are documentation, not
 * dependencies, and are not checked. `implementations` are the folder names under libs/protocol.
 */
function protocolBoundaryViolations(sources: SourceText[], implementations: string[]): string[] {
  const violations: string[] = [];
  for (const { file, text } of sources) {
    const own = implementations.find((impl) => file.startsWith(`${PROTOCOLS}/${impl}/`));
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    const checkSpecifier = (specifier: string) => {
      if (!specifier.startsWith('.')) return;
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
      const impl = implementations.find((i) => target.startsWith(`${PROTOCOLS}/${i}/`) || target === `${PROTOCOLS}/${i}`);
      if (impl && impl !== own && file !== REGISTRATION) violations.push(`${file} imports ${specifier}`);
    };
    const visit = (node: ts.Node): void => {
      if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
        checkSpecifier(node.moduleSpecifier.text);
      } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
        checkSpecifier(node.arguments[0].text);
      }
      // A module specifier is checked as an import (above), not as a name.
      const parent = node.parent as ts.Node | undefined;
      const specifier =
        parent !== undefined &&
        ts.isStringLiteral(node) &&
        (ts.isImportDeclaration(parent) || ts.isExportDeclaration(parent) || (ts.isCallExpression(parent) && parent.expression.kind === ts.SyntaxKind.ImportKeyword));
      const named =
        !specifier &&
        (ts.isIdentifier(node) || ts.isPrivateIdentifier(node) || ts.isStringLiteralLike(node) || ts.isTemplateLiteralToken(node) || ts.isRegularExpressionLiteral(node));
      if (named) {
        const token = node.getText(source);
        if (VARIABLE_NAME.test(token)) return;
        for (const [name, pattern] of Object.entries(PROTOCOL_NAMES)) {
          if (name === own || (file === REGISTRATION && ts.isIdentifier(node)) || !pattern.test(token)) continue;
          const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
          violations.push(`${file}:${line + 1} names ${name}: ${token.slice(0, 80)}`);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return violations;
}

async function protocolImplementations(): Promise<string[]> {
  const entries = await readdir(path.join(ROOT, PROTOCOLS), { withFileTypes: true });
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
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

  it('services and libs reach protocols only through the contract and the registry (issue 13)', async () => {
    const files = [...(await sourceFiles('services')), ...(await sourceFiles('libs')), ...(await sourceFiles('scripts'))];
    const sources = await Promise.all(files.map(async (file) => ({ file: file.split(path.sep).join('/'), text: await readFile(path.join(ROOT, file), 'utf8') })));
    const implementations = await protocolImplementations();
    expect(implementations).toContain('pypi');
    expect(protocolBoundaryViolations(sources, implementations)).toEqual([]);
  });

  it('finds protocol boundary violations when there are some', () => {
    const impls = ['pypi', 'other'];
    const violations = protocolBoundaryViolations(
      [
        { file: 'services/a/main.ts', text: "import { x } from '../../libs/protocol/pypi/index.js';\nconst p = { protocol: 'pypi' };" },
        { file: 'libs/queue/jobs.ts', text: "export const s = z.literal('PyPI');\nconst t = `${'a'}pypi`;" },
        { file: 'libs/db/x.ts', text: "import { normalizeName } from '../protocol/pypi/names.js';\nexport const m = await import('../protocol/other/index.js');" },
        { file: 'libs/pages/y.ts', text: "// PyPI pages are large\n/** As PyPI does. */\nimport type { ProtocolAdapter } from '../protocol/index.js';\nconst pypiProtocol = 1;" },
        { file: 'libs/protocol/pypi/adapter.ts', text: "import { y } from './names.js';\nexport const pypiProtocol = { name: 'pypi' };" },
        { file: 'libs/protocol/other/adapter.ts', text: "import { y } from '../pypi/names.js';" },
        { file: 'libs/protocol/registered-protocols.ts', text: "import { pypiProtocol } from './pypi/index.js';\nconst all = [pypiProtocol, 'pypi'];" },
        { file: 'libs/config/settings.ts', text: "const schema = { ORCHARD_NPM_PREFIX: 1 };\nconst npmPrefix = '/npm';" },
      ],
      impls,
    );
    expect(violations).toEqual([
      'services/a/main.ts imports ../../libs/protocol/pypi/index.js',
      "services/a/main.ts:2 names pypi: 'pypi'",
      "libs/queue/jobs.ts:1 names pypi: 'PyPI'",
      'libs/queue/jobs.ts:2 names pypi: }pypi`',
      'libs/db/x.ts imports ../protocol/pypi/names.js',
      'libs/db/x.ts imports ../protocol/other/index.js',
      'libs/pages/y.ts:4 names pypi: pypiProtocol',
      'libs/protocol/other/adapter.ts imports ../pypi/names.js',
      "libs/protocol/registered-protocols.ts:2 names pypi: 'pypi'",
      'libs/config/settings.ts:2 names npm: npmPrefix',
      "libs/config/settings.ts:2 names npm: '/npm'",
    ]);
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
