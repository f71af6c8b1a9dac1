/**
 * What deployment files are checked against: the settings schema, the metric registry, the routes
 * each service really answers, and the files commands point at — all read from the code itself.
 */
import { existsSync, readFileSync } from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express from 'express';
import ts from 'typescript';
import { queues } from '../../libs/queue/jobs.js';
import { QUEUE_STATES } from '../../libs/queue/metrics.js';
import { closeServer, startOpsServer } from '../../libs/lifecycle/index.js';
import { createMetrics } from '../../libs/metrics/index.js';
import { opsRoutes } from '../../services/gateway/routes/ops-routes.js';
import { Registry } from 'prom-client';
import { createStorageMetrics } from '../../libs/quota/index.js';
import { createViewMetrics } from '../../libs/views/index.js';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');

export type OrchardService = 'gateway' | 'fetcher' | 'extractor';

/** Every variable name in the `schema` object of libs/config/settings.ts, read from its syntax tree. */
export function settingNames(): Set<string> {
  const file = path.join(ROOT, 'libs', 'config', 'settings.ts');
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const names = new Set<string>();
  const visit = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.name.text === 'schema' && node.initializer && ts.isCallExpression(node.initializer)) {
      const [shape] = node.initializer.arguments;
      if (shape && ts.isObjectLiteralExpression(shape)) {
        for (const property of shape.properties) {
          if (property.name && (ts.isIdentifier(property.name) || ts.isStringLiteral(property.name))) names.add(property.name.text);
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  if (names.size < 10) throw new Error(`found only ${names.size} settings in ${file}; has the schema moved?`);
  return names;
}

/** Per-upstream variables libs/config/upstreams.ts reads besides the schema. */
const PER_UPSTREAM = /^ORCHARD_UPSTREAM_[A-Z0-9_]+_(TOKEN|CREDENTIAL_ORIGINS)$/;

/** Whether an environment variable name is one Orchard reads (or is meant for another program). */
export function isOrchardVariable(name: string): boolean {
  return /^(ORCHARD_|S3_)/.test(name) || name === 'DATABASE_URL' || name === 'REDIS_URL';
}

/** The Orchard variables among `names` that Orchard does not read: typos, renamed settings. */
export function unknownVariables(names: Iterable<string>): string[] {
  const known = settingNames();
  return [...names].filter((n) => isOrchardVariable(n) && !known.has(n) && !PER_UPSTREAM.test(n));
}

/** `dist/<x>.js` → whether `<x>.ts` exists in the source tree (what `tsc` compiles it from). */
export function compiledFromSource(distPath: string): boolean {
  const match = /^dist\/(.+)\.js$/.exec(distPath);
  return match !== null && existsSync(path.join(ROOT, `${match[1]}.ts`));
}

/** The service a `node dist/services/<name>/main.js` command runs, if any. */
export function serviceOfCommand(command: string[]): OrchardService | undefined {
  const match = /^dist\/services\/(gateway|fetcher|extractor)\/main\.js$/.exec(command[1] ?? '');
  return command[0] === 'node' && match ? (match[1] as OrchardService) : undefined;
}

/** Every metric Orchard declares (the registry, the storage job's and the views'): its sample names (histogram suffixes included) and label names. */
export function metricCatalog(): Map<string, Set<string>> {
  // The storage job's metrics are registered by the fetcher alone, the views' by the gateway alone.
  return catalogOf([...Object.values(createMetrics('gateway')), ...Object.values(createStorageMetrics(new Registry())), ...Object.values(createViewMetrics(new Registry()))]);
}

/** The default process metrics prom-client registers beside Orchard's (`process_*`, `nodejs_*`), as metricCatalog has them. */
export function defaultMetricCatalog(): Map<string, Set<string>> {
  return catalogOf(
    createMetrics('gateway')
      .registry.getMetricsAsArray()
      .filter((metric) => !metric.name.startsWith('orchard_')),
  );
}

function catalogOf(metrics: unknown[]): Map<string, Set<string>> {
  const catalog = new Map<string, Set<string>>();
  for (const metric of metrics) {
    if (typeof metric !== 'object' || metric === null || !('labelNames' in metric) || !('name' in metric)) continue;
    const { name, labelNames } = metric as unknown as { name: string; labelNames: string[] };
    const labels = new Set(['service', ...labelNames]);
    const histogram = (metric as object).constructor.name === 'Histogram';
    for (const sample of histogram ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name]) {
      catalog.set(sample, histogram && sample.endsWith('_bucket') ? new Set([...labels, 'le']) : labels);
    }
  }
  return catalog;
}

export interface MetricReference {
  metric: string;
  matchers: Array<{ label: string; op: string; value: string }>;
}

/** The `orchard_*` series a PromQL expression selects, with their label matchers. */
export function orchardSeriesIn(promql: string): MetricReference[] {
  const refs: MetricReference[] = [];
  for (const match of promql.matchAll(/\b(orchard_[a-zA-Z0-9_]+)(\{([^}]*)\})?/g)) {
    const matchers = [...(match[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)].map((m) => ({ label: m[1]!, op: m[2]!, value: m[3]! }));
    refs.push({ metric: match[1]!, matchers });
  }
  return refs;
}

/**
 * Problems with the `orchard_*` series a PromQL expression uses: unknown metric names, label names
 * the metric does not carry, and queue or state values that no queue or job state has.
 * `targetLabels` are labels Prometheus attaches at scrape time (`job`, `instance`) that the
 * expression may also match on.
 */
export function promqlProblems(promql: string, targetLabels: readonly string[] = []): string[] {
  const catalog = metricCatalog();
  const problems: string[] = [];
  const refs = orchardSeriesIn(promql);
  if (refs.length === 0) problems.push(`no orchard_ metric in ${promql}`);
  for (const { metric, matchers } of refs) {
    const labels = catalog.get(metric);
    if (!labels) {
      problems.push(`${metric} is not declared in libs/metrics/registry.ts`);
      continue;
    }
    for (const { label, op, value } of matchers) {
      if (!labels.has(label) && !targetLabels.includes(label)) problems.push(`${metric} has no label ${label}`);
      if (op !== '=') continue;
      if (label === 'queue' && !(value in queues)) problems.push(`no queue is named ${value}`);
      if (label === 'state' && !(QUEUE_STATES as readonly string[]).includes(value)) problems.push(`orchard_queue_jobs reports no state ${value}`);
    }
  }
  return problems;
}

const routeStatus = new Map<string, Promise<number>>();

/**
 * The status a service's own ops routes answer `path` with (with every dependency check passing):
 * the gateway's express router or the workers' ops server, both built from the real code.
 */
export function statusOf(service: OrchardService, requestPath: string): Promise<number> {
  const key = `${service === 'gateway' ? 'gateway' : 'worker'} ${requestPath}`;
  let status = routeStatus.get(key);
  if (!status) {
    status = (async () => {
      const { registry } = createMetrics(service);
      const options = { registry, checks: { redis: async () => 'PONG' }, details: () => ({}) };
      let server: http.Server;
      if (service === 'gateway') {
        const app = express().use(opsRoutes(options));
        server = await new Promise<http.Server>((resolve) => {
          const s = app.listen(0, '127.0.0.1', () => resolve(s));
        });
      } else {
        server = await startOpsServer({ host: '127.0.0.1', port: 0, ...options });
      }
      try {
        const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}${requestPath}`);
        await res.arrayBuffer();
        return res.status;
      } finally {
        await closeServer(server);
      }
    })();
    routeStatus.set(key, status);
  }
  return status;
}

/** Compose-style `${VAR:-default}` / `${VAR}` / `$$` interpolation, with `env` as the environment. */
export function interpolate(value: string, env: Record<string, string | undefined> = {}): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g, (whole, name: string | undefined, fallback: string | undefined) => {
    if (whole === '$$') return '$';
    const set = env[name!];
    return set !== undefined && set !== '' ? set : (fallback ?? '');
  });
}
