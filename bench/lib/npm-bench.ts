import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../test/support/orchard.js';
import { drain } from './clients.js';
import { npmInstall, npmVersion, type NpmInstallResult } from './npm-client.js';
import { NpmStaticRegistry } from './npm-nginx.js';
import { buildNpmRegistry, NPM_TREE_ROOTS, type NpmTree } from './npm-tree.js';
import { startBenchOrchard } from './orchard.js';
import { RssSampler, type RssPeaks } from './rss.js';
import { VERDACCIO_VERSION, VerdaccioServer, verdaccioInstallSize } from './verdaccio.js';
import { runWrk, type LoadResult } from './wrk.js';

/** What npm sends for a packument (the abbreviated document first). */
export const NPM_ACCEPT = 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*';
/** A package of the registry outside the tree: the first install through a fresh proxy pays its start-up costs on it. */
const WARM_UP_ROOT = 'picomatch';
/**
 * The packument under load: express's, given earlier versions (manifests only) up to this many, so
 * that it is mid-size like a long-lived package's (npmjs.org's express has ~280 versions).
 */
const LOADED_PACKUMENT = { name: 'express', versions: 100 };

/** One npm figure: Orchard, the same static upstream straight from nginx, and Verdaccio, measured in one run. */
export interface NpmFigure {
  name: string;
  unit: string;
  /** null: Orchard's npm routes failed (see `NpmReport.orchardError`). */
  orchard: number | null;
  nginx: number;
  verdaccio: number;
  /** Orchard ÷ nginx and Orchard ÷ Verdaccio, as measured (times: lower is better; req/s: higher). */
  ratioToNginx: number | null;
  ratioToVerdaccio: number | null;
  goal: string;
  met: boolean;
  extra?: Record<string, number | string | null>;
}

export interface NpmReport {
  figures: NpmFigure[];
  npm: string;
  verdaccio: { version: string; packages: number; bytes: number };
  /** The registry's contents (the tree and the warm-up package) and what one install of the tree puts on disk. */
  tree: Omit<NpmTree, 'root' | 'url'> & { installedEntries: number; installedBytes: number };
  /** Peak RSS over the npm figures: Orchard's gateway (all its processes) and Verdaccio's one process. */
  memory: Record<string, RssPeaks>;
  /** Why Orchard has no figures, when its npm routes failed. */
  orchardError?: string;
}

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * The npm figures (issue: npm in `npm run bench`): `npm install` of a real 130-name tree (express,
 * pino, bullmq and koa with their dependencies as installed in this repository, nested versions
 * included) cold and warm, straight from a static registry on nginx, through Orchard and through
 * Verdaccio, each proxy fresh with an empty cache against that registry; then one packument under
 * wrk with npm's Accept header. Prints a line per figure; the caller prints the table.
 */
export async function measureNpm(options: { seconds: number; connections?: number }): Promise<NpmReport> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'orchard-bench-npm-'));
  // nginx's workers run as an unprivileged user: mkdtemp's 0700 would make every file a 403.
  await chmod(work, 0o755);
  const port = await freePort();
  console.log('npm: a static registry of the tree from node_modules, served by nginx…');
  const tree = await buildNpmRegistry(path.join(work, 'registry'), `http://127.0.0.1:${port}`, [...NPM_TREE_ROOTS, WARM_UP_ROOT], LOADED_PACKUMENT);
  const warmUpDeps = { [WARM_UP_ROOT]: tree.dependencies[WARM_UP_ROOT]! };
  const deps = Object.fromEntries(NPM_TREE_ROOTS.map((r) => [r, tree.dependencies[r]!]));
  const registry = new NpmStaticRegistry(tree.root, port, path.join(work, 'nginx'));
  await registry.start();
  const verdaccio = new VerdaccioServer(registry.url);
  let orchard: Awaited<ReturnType<typeof startBenchOrchard>> | undefined;
  const samplers: Array<[string, RssSampler]> = [];
  try {
    // The check before measuring: the tree installs straight from nginx (and npm's own files are in the page cache).
    const check = await npmInstall(`${registry.url}/`, deps);
    console.log(
      `  the registry: ${tree.packages} packages, the tree and ${WARM_UP_ROOT} (${tree.names} names, ${tree.nestedNames.length} in two versions, ${tree.scopedNames.length} scoped), ` +
        `${(tree.tarballBytes / 2 ** 20).toFixed(1)} MiB of tarballs; npm installs ${check.packages} entries, ${(check.bytes / 2 ** 20).toFixed(1)} MiB, in ${check.seconds.toFixed(2)} s from nginx`,
    );

    await verdaccio.start();
    samplers.push([`verdaccio ${VERDACCIO_VERSION} peak RSS, npm figures (MiB)`, new RssSampler(verdaccio.pid).start()]);
    let orchardError: string | undefined;
    // Orchard's gateway must know its own URL (ORCHARD_PUBLIC_URL: the tarball URLs it writes), and
    // startBenchOrchard picks the port: start nothing, set the URL, then start the services. Its
    // PyPI upstream (startBenchOrchard always names one) is a path nginx answers 404 to, never asked.
    orchard = await startBenchOrchard(`${registry.url}/simple/`, { ORCHARD_NPM_UPSTREAMS: `local=${registry.url}/` }, []);
    const o = orchard.orchard;
    o.env.ORCHARD_PUBLIC_URL = o.url;
    try {
      await o.start();
      samplers.push([`orchard gateway peak RSS, npm figures (MiB)`, new RssSampler(o.pid('gateway')).start()]);
    } catch (err) {
      orchardError = `Orchard did not start with ORCHARD_NPM_UPSTREAMS: ${(err as Error).message}`;
      console.log(`  ${orchardError}`);
    }
    const orchardRegistry = `${o.url}/npm/`;

    const upstreamGets = async <T>(fn: () => Promise<T>): Promise<[T, { packuments: number; tarballs: number }]> => {
      const before = await registry.requests();
      const result = await fn();
      const after = await registry.requests();
      return [result, { packuments: after.packuments - before.packuments, tarballs: after.tarballs - before.tarballs }];
    };
    /** Runs an install through Orchard; after its first failure, records why and measures the others alone. */
    const throughOrchard = async (deps: Record<string, string>): Promise<NpmInstallResult | null> => {
      if (orchardError) return null;
      try {
        return await npmInstall(orchardRegistry, deps);
      } catch (err) {
        orchardError = (err as Error).message;
        console.log(`  Orchard's npm install failed: ${orchardError.split('\n').slice(0, 12).join('\n  ')}`);
        return null;
      }
    };

    console.log('npm install of the tree, cold (fresh proxies, empty caches; one unrelated package through each first)…');
    // Cold means nothing of the tree is cached, not fresh processes (a proxy runs for days): one
    // unrelated install through each proxy first pays start-up costs (JIT, lazy modules, pools).
    const firstOrchard = await throughOrchard(warmUpDeps);
    const firstVerdaccio = await npmInstall(verdaccio.url, warmUpDeps);
    const firstDirect = await npmInstall(`${registry.url}/`, warmUpDeps);
    if (firstOrchard) await o.waitForIdleQueues();
    const direct = await npmInstall(`${registry.url}/`, deps);
    const [cold, coldGets] = await upstreamGets(() => throughOrchard(deps));
    const [vCold, vColdGets] = await upstreamGets(() => npmInstall(verdaccio.url, deps));
    const figures: NpmFigure[] = [];
    const timeFigure = (name: string, goal: string, met: (o: number) => boolean, orchard: number | null, nginx: number, verdaccio: number, extra: NpmFigure['extra']) => {
      const f: NpmFigure = {
        name,
        unit: 's',
        orchard,
        nginx,
        verdaccio,
        ratioToNginx: orchard === null ? null : round(orchard / nginx),
        ratioToVerdaccio: orchard === null ? null : round(orchard / verdaccio),
        goal,
        met: orchard !== null && met(orchard),
        extra,
      };
      figures.push(f);
      printLine(f);
    };
    timeFigure(`cold npm install, ${check.packages} packages (s)`, 'measured', () => true, cold?.seconds ?? null, direct.seconds, vCold.seconds, {
      orchardUpstreamPackumentGets: cold ? coldGets.packuments : null,
      orchardUpstreamTarballGets: cold ? coldGets.tarballs : null,
      verdaccioUpstreamPackumentGets: vColdGets.packuments,
      verdaccioUpstreamTarballGets: vColdGets.tarballs,
      orchardFirstInstallSeconds: firstOrchard ? round(firstOrchard.seconds) : null,
      verdaccioFirstInstallSeconds: round(firstVerdaccio.seconds),
      nginxFirstInstallSeconds: round(firstDirect.seconds),
    });

    console.log('npm install of the tree, warm (proxies filled, npm cache empty), 3 rounds interleaved…');
    if (cold) await o.waitForIdleQueues();
    const rounds: Array<{ nginx: number; orchard: number | null; verdaccio: number; orchardGets: number; verdaccioGets: number }> = [];
    for (let i = 0; i < 3; i++) {
      const n = await npmInstall(`${registry.url}/`, deps);
      const [w, wGets] = await upstreamGets(() => throughOrchard(deps));
      const [v, vGets] = await upstreamGets(() => npmInstall(verdaccio.url, deps));
      rounds.push({
        nginx: n.seconds,
        orchard: w?.seconds ?? null,
        verdaccio: v.seconds,
        orchardGets: wGets.packuments + wGets.tarballs,
        verdaccioGets: vGets.packuments + vGets.tarballs,
      });
    }
    // The median round (by Orchard ÷ nginx, as the pip figures pick theirs; by nginx's time without
    // Orchard): its three installs ran moments apart, under the same load from elsewhere.
    const byRatio = rounds.every((r) => r.orchard !== null) ? (r: (typeof rounds)[number]) => r.orchard! / r.nginx : (r: (typeof rounds)[number]) => r.nginx;
    const warm = [...rounds].sort((a, b) => byRatio(a) - byRatio(b))[1]!;
    const [warmOrchard, warmNginx, warmVerdaccio] = [warm.orchard, warm.nginx, warm.verdaccio];
    timeFigure(
      `warm npm install, ${check.packages} packages, median round of 3 (s)`,
      '≤ 1.1× nginx and faster than Verdaccio',
      (w) => w <= 1.1 * warmNginx && w < warmVerdaccio,
      warmOrchard,
      warmNginx,
      warmVerdaccio,
      Object.fromEntries(
        rounds.flatMap((r, i) => [
          [`orchardRound${i + 1}`, r.orchard === null ? null : round(r.orchard)],
          [`nginxRound${i + 1}`, round(r.nginx)],
          [`verdaccioRound${i + 1}`, round(r.verdaccio)],
          [`orchardUpstreamGetsRound${i + 1}`, r.orchard === null ? null : r.orchardGets],
          [`verdaccioUpstreamGetsRound${i + 1}`, r.verdaccioGets],
        ]),
      ),
    );

    figures.push(await packumentFigure(tree, registry, verdaccio.url, orchardError ? null : orchardRegistry, options));
    printLine(figures.at(-1)!);
    const memory: Record<string, RssPeaks> = {};
    for (const [name, sampler] of samplers.splice(0)) memory[name] = await sampler.stop();
    return {
      figures,
      npm: npmVersion(),
      verdaccio: { version: VERDACCIO_VERSION, ...verdaccioInstallSize() },
      tree: {
        dependencies: { ...deps, ...warmUpDeps },
        packages: tree.packages,
        names: tree.names,
        nestedNames: tree.nestedNames,
        scopedNames: tree.scopedNames,
        tarballBytes: tree.tarballBytes,
        ...(tree.history ? { history: tree.history } : {}),
        installedEntries: check.packages,
        installedBytes: check.bytes,
      },
      memory,
      ...(orchardError ? { orchardError } : {}),
    };
  } finally {
    for (const [, sampler] of samplers) await sampler.stop();
    await orchard?.stop();
    await verdaccio.stop();
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * A mid-size packument (express's, with earlier versions: LOADED_PACKUMENT) under wrk with npm's
 * Accept header, without compression: req/s and p50/p99 through Orchard, Verdaccio (both warm) and
 * straight from nginx. Each answers with its own bytes: Orchard and Verdaccio may send the
 * abbreviated document, nginx sends the full one from disk (body sizes in `extra`).
 */
async function packumentFigure(
  tree: NpmTree,
  registry: NpmStaticRegistry,
  verdaccioUrl: string,
  orchardRegistry: string | null,
  options: { seconds: number; connections?: number },
): Promise<NpmFigure> {
  const { name, versions, packumentBytes } = tree.history!;
  const connections = options.connections ?? 32;
  console.log(`npm: ${name}'s packument, ${connections} connections, npm's Accept header…`);
  const headers = { accept: NPM_ACCEPT };
  const urls = { orchard: orchardRegistry && `${orchardRegistry}${name}`, nginx: `${registry.url}/${name}`, verdaccio: `${verdaccioUrl}${name}` };
  const bytes: Record<string, number | null> = {};
  for (const [side, url] of Object.entries(urls)) bytes[side] = url ? await drain(url, headers) : null;
  const load = (url: string) => runWrk(url, { connections, seconds: options.seconds, headers });
  const o: LoadResult | null = urls.orchard ? await load(urls.orchard) : null;
  const n = await load(urls.nginx);
  const v = await load(urls.verdaccio);
  return {
    name: `${name}'s packument (${versions} versions, ${Math.round(packumentBytes / 1024)} KB full), npm's Accept header, ${connections} connections (req/s)`,
    unit: 'req/s',
    orchard: o?.requestsPerSecond ?? null,
    nginx: n.requestsPerSecond,
    verdaccio: v.requestsPerSecond,
    ratioToNginx: o ? round(o.requestsPerSecond / n.requestsPerSecond) : null,
    ratioToVerdaccio: o ? round(o.requestsPerSecond / v.requestsPerSecond) : null,
    goal: "≥ 5× Verdaccio's",
    met: o !== null && o.requestsPerSecond >= 5 * v.requestsPerSecond,
    extra: {
      orchardP50Ms: o?.p50Ms ?? null,
      orchardP99Ms: o?.p99Ms ?? null,
      nginxP50Ms: n.p50Ms,
      nginxP99Ms: n.p99Ms,
      verdaccioP50Ms: v.p50Ms,
      verdaccioP99Ms: v.p99Ms,
      orchardErrors: o?.errors ?? null,
      verdaccioErrors: v.errors,
      orchardBodyBytes: bytes.orchard ?? null,
      nginxBodyBytes: bytes.nginx ?? null,
      verdaccioBodyBytes: bytes.verdaccio ?? null,
    },
  };
}

function printLine(f: NpmFigure): void {
  const orchard = f.orchard === null ? 'orchard not measured' : `orchard ${f.orchard.toFixed(2)} ${f.unit} (${f.ratioToNginx}× nginx, ${f.ratioToVerdaccio}× verdaccio)`;
  const extra = f.extra ? ` ${JSON.stringify(f.extra)}` : '';
  console.log(
    `  ${f.name}: ${orchard}, nginx ${f.nginx.toFixed(2)} ${f.unit}, verdaccio ${f.verdaccio.toFixed(2)} ${f.unit} (goal ${f.goal}: ${f.met ? 'met' : 'MISSED'})${extra}`,
  );
}

/** The npm table at the end of the bench's output. */
export function printNpmTable(report: NpmReport): void {
  console.log(
    `\n| figure (npm, same run; ${report.tree.installedEntries}-package tree, npm ${report.npm}, verdaccio ${report.verdaccio.version}) | Orchard | nginx (upstream direct) | Verdaccio | Orchard ÷ nginx | Orchard ÷ Verdaccio | goal |\n|---|---|---|---|---|---|---|`,
  );
  for (const f of report.figures) {
    const o = f.orchard === null ? 'not measured' : f.orchard.toFixed(2);
    console.log(
      `| ${f.name} | ${o} | ${f.nginx.toFixed(2)} | ${f.verdaccio.toFixed(2)} | ${f.ratioToNginx ?? ''} | ${f.ratioToVerdaccio ?? ''} | ${f.goal} ${f.met ? '✓' : '✗'} |`,
    );
  }
  for (const [k, v] of Object.entries(report.memory))
    console.log(`| ${k} | ${v.largestMiB} MiB${v.processes > 1 ? ` (all ${v.processes} processes: ${v.totalMiB} MiB)` : ''} | | | | | |`);
  if (report.orchardError) console.log(`\nOrchard's npm figures are missing: ${report.orchardError.split('\n')[0]}`);
}
