import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../libs/config/index.js';
import { ROOT, compiledFromSource } from './consistency.js';

interface Stage {
  name: string;
  instructions: Array<{ op: string; args: string }>;
}

/** Dockerfile → stages of instructions (continuation lines joined, comments dropped). */
function stages(text: string): Stage[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const result: Stage[] = [];
  for (const line of lines) {
    const [, op, args = ''] = /^(\w+)\s*(.*)$/.exec(line)!;
    if (op!.toUpperCase() === 'FROM') result.push({ name: / AS (\S+)$/i.exec(args)?.[1] ?? '', instructions: [] });
    result.at(-1)?.instructions.push({ op: op!.toUpperCase(), args });
  }
  return result;
}

describe('Dockerfile', () => {
  const all = stages(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
  const byName = (name: string) => all.find((s) => s.name === name)!;
  const runtime = all.at(-1)!;
  const ops = (stage: Stage, op: string) => stage.instructions.filter((i) => i.op === op).map((i) => i.args);

  it('builds in a stage with dev dependencies: prisma generate (engine stub) and tsc', () => {
    const build = byName('build');
    expect(ops(build, 'RUN')).toEqual(['npm ci --no-audit --no-fund', 'npm run build']);
    const scripts = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.build).toMatch(/npm run generate.*&& tsc -p tsconfig\.json/);
    expect(scripts.generate).toMatch(/PRISMA_SCHEMA_ENGINE_BINARY=.*prisma\/engine-stub\/schema-engine.*prisma generate/);
    // Everything tsconfig.json compiles is copied in.
    const copied = ops(build, 'COPY').flatMap((a) => a.split(/\s+/).slice(0, -1));
    const tsconfig = JSON.parse(readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] };
    for (const include of tsconfig.include) expect(copied, include).toContain(include.split('/')[0]);
    expect(copied).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'prisma', 'prisma.config.ts']));
  });

  it('ships production dependencies only, dist/, the migrations and package.json (ESM), as a non-root user', () => {
    expect(ops(byName('prod-deps'), 'RUN').join(' ')).toMatch(/npm ci --omit=dev/);
    expect(ops(runtime, 'COPY')).toEqual(
      expect.arrayContaining(['package.json ./', '--from=prod-deps /src/node_modules ./node_modules', '--from=build /src/dist ./dist', 'prisma/migrations ./prisma/migrations']),
    );
    expect(ops(runtime, 'COPY').some((a) => a.includes('--from=build /src/node_modules'))).toBe(false);
    expect(ops(runtime, 'USER')).toEqual(['node']);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { type: string };
    expect(pkg.type).toBe('module');
  });

  it("runs the gateway by default and exposes every service's default port", () => {
    const cmd = JSON.parse(ops(runtime, 'CMD')[0]!) as string[];
    expect(cmd).toEqual(['node', 'dist/services/gateway/main.js']);
    expect(compiledFromSource(cmd[1]!)).toBe(true);
    const defaults = loadSettings({});
    expect(ops(runtime, 'EXPOSE')[0]!.split(/\s+/).map(Number)).toEqual([defaults.gatewayPort, defaults.fetcherPort, defaults.extractorPort]);
  });

  it('keeps local state and build output out of the build context, but not what it copies', () => {
    const ignored = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', 'data', 'libs/db/generated', '.git']));
    for (const copied of ['libs', 'services', 'scripts', 'prisma', 'package.json', 'package-lock.json', 'tsconfig.json']) expect(ignored).not.toContain(copied);
  });
});
