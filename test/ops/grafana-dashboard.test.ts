/**
 * deploy/grafana/orchard-dashboard.json against the code: every query parses as PromQL and selects
 * only series Orchard or prom-client's default metrics expose, grouped and matched by labels those
 * series carry; every panel is placed once and reads the dashboard's `datasource` variable; and the
 * dashboard has a panel for each area an operator needs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../libs/metrics/index.js';
import { createStorageMetrics } from '../../libs/quota/index.js';
import { createViewMetrics } from '../../libs/views/index.js';
import { parsePrometheusText } from '../support/prometheus.js';
import { PromqlChecker, type Value } from '../support/promql.js';
import { ROOT, defaultMetricCatalog, metricCatalog, orchardSeriesIn, promqlProblems } from './consistency.js';

const DASHBOARD = path.join(ROOT, 'deploy', 'grafana', 'orchard-dashboard.json');
/** Labels Prometheus attaches to every scraped series. */
const TARGET_LABELS = ['job', 'instance'];
/** Grafana's own variables, and a value that stands for each when a query is checked. */
const BUILTIN_VARIABLES: Record<string, string> = { __rate_interval: '5m', __interval: '1m', __range: '6h' };

// ---------------------------------------------------------------------------------------------
// The dashboard checks.

interface DatasourceRef {
  type?: string;
  uid?: string;
}

interface Target {
  refId?: string;
  expr?: string;
  legendFormat?: string;
  datasource?: DatasourceRef;
}

interface Panel {
  id?: unknown;
  type?: string;
  title?: string;
  gridPos?: { x: number; y: number; w: number; h: number };
  datasource?: DatasourceRef;
  targets?: Target[];
  panels?: Panel[];
}

interface Dashboard {
  schemaVersion?: number;
  uid?: string;
  title?: string;
  panels?: Panel[];
  templating?: { list?: Array<{ name: string; type: string; query?: unknown; datasource?: DatasourceRef }> };
}

/** What the dashboard must show, each by a series a panel selects (and a label it matches on, or a function it applies). */
const AREAS: Array<{ area: string; metric: string; matcher?: string; fn?: string }> = [
  { area: 'gateway request rate', metric: 'orchard_http_requests_total', fn: 'rate' },
  { area: 'gateway latency', metric: 'orchard_http_request_duration_seconds_bucket', fn: 'histogram_quantile' },
  { area: 'cache hits', metric: 'orchard_cache_lookups_total', matcher: 'result' },
  { area: 'queue depth', metric: 'orchard_queue_jobs' },
  { area: 'job rate and outcome', metric: 'orchard_jobs_total' },
  { area: 'job latency', metric: 'orchard_job_duration_seconds_bucket', fn: 'histogram_quantile' },
  { area: 'upstream requests', metric: 'orchard_upstream_requests_total' },
  { area: 'upstream errors', metric: 'orchard_upstream_requests_total', matcher: 'outcome' },
  { area: 'upstream latency', metric: 'orchard_upstream_request_duration_seconds_bucket', fn: 'histogram_quantile' },
  { area: 'bytes fetched', metric: 'orchard_bytes_fetched_total' },
  { area: 'hash mismatches', metric: 'orchard_hash_mismatches_total' },
  { area: 'storage usage', metric: 'orchard_storage_bytes' },
  { area: 'storage quota', metric: 'orchard_storage_quota_bytes' },
  { area: 'evictions', metric: 'orchard_evictions_total' },
  { area: 'bytes served by source', metric: 'orchard_bytes_served_total' },
  { area: 'files hidden by views', metric: 'orchard_view_hidden_total' },
  { area: 'process memory', metric: 'process_resident_memory_bytes' },
  { area: 'process CPU', metric: 'process_cpu_seconds_total', fn: 'rate' },
  { area: 'event loop lag', metric: 'nodejs_eventloop_lag_p99_seconds' },
];

const isDatasourceVariable = (ref: DatasourceRef | undefined) => ref?.type === 'prometheus' && (ref.uid === '${datasource}' || ref.uid === '$datasource');

/** Problems with one query: Grafana variables, PromQL syntax and types, series, labels; and what it selects. */
function queryProblems(expr: string, variables: Set<string>, catalog: Map<string, Set<string>>) {
  const problems: string[] = [];
  // Grafana substitutes its variables before Prometheus sees the query: so does this check.
  const promql = expr.replace(/\$(?:\{(\w+)(?::\w+)?\}|(\w+))/g, (_, braced: string | undefined, plain: string | undefined) => {
    const name = (braced ?? plain)!;
    if (name in BUILTIN_VARIABLES) return BUILTIN_VARIABLES[name]!;
    if (!variables.has(name)) problems.push(`$${name} is not a template variable`);
    return 'x';
  });
  const checker = new PromqlChecker(promql, catalog, TARGET_LABELS);
  let value: Value | undefined;
  try {
    value = checker.check();
  } catch (err) {
    problems.push(`does not parse as PromQL: ${(err as Error).message}`);
  }
  problems.push(...checker.problems);
  if (orchardSeriesIn(promql).length > 0) problems.push(...promqlProblems(promql, TARGET_LABELS));
  return { problems: [...new Set(problems)], value, selected: checker.selected, functions: checker.functions };
}

/** Everything wrong with a dashboard, as sentences naming the panel; empty when it is sound. */
function dashboardProblems(dashboard: Dashboard): string[] {
  const catalog = new Map([...defaultMetricCatalog(), ...metricCatalog()]);
  const problems: string[] = [];
  if ((dashboard.schemaVersion ?? 0) < 38) problems.push(`schemaVersion ${dashboard.schemaVersion} is older than Grafana 10's (38)`);
  if (!dashboard.uid || !dashboard.title) problems.push('the dashboard needs a uid and a title');

  const variables = dashboard.templating?.list ?? [];
  const names = new Set(variables.map((v) => v.name));
  if (!variables.some((v) => v.name === 'datasource' && v.type === 'datasource' && v.query === 'prometheus')) problems.push('no `datasource` template variable of type prometheus');
  for (const variable of variables.filter((v) => v.type === 'query')) {
    if (!isDatasourceVariable(variable.datasource)) problems.push(`variable ${variable.name}: its data source is not $datasource`);
    const query = typeof variable.query === 'string' ? variable.query : String((variable.query as { query?: unknown } | undefined)?.query);
    const match = /^label_values\((.+),\s*(\w+)\)$/.exec(query);
    if (!match) {
      problems.push(`variable ${variable.name}: ${query} is not label_values(selector, label)`);
      continue;
    }
    const checked = queryProblems(match[1]!, names, catalog);
    problems.push(...checked.problems.map((p) => `variable ${variable.name}: ${p}`));
    if (checked.value?.labels && !checked.value.labels.has(match[2]!)) problems.push(`variable ${variable.name}: its series have no label ${match[2]}`);
  }

  const topLevel = dashboard.panels ?? [];
  const panels = topLevel.flatMap((p) => [p, ...(p.panels ?? [])]);
  const ids = new Set<unknown>();
  const covered = new Set<string>();
  for (const panel of panels) {
    const name = `panel ${JSON.stringify(panel.title)} (id ${String(panel.id)})`;
    if (!Number.isInteger(panel.id) || ids.has(panel.id)) problems.push(`${name}: its id is missing or not unique`);
    ids.add(panel.id);
    const g = panel.gridPos;
    if (!g || ![g.x, g.y, g.w, g.h].every(Number.isInteger) || g.x < 0 || g.y < 0 || g.w < 1 || g.h < 1 || g.x + g.w > 24)
      problems.push(`${name}: no gridPos within the 24 columns`);
    if (panel.type === 'row') continue;
    if (!isDatasourceVariable(panel.datasource)) problems.push(`${name}: its data source is not the $datasource variable`);
    if (!panel.targets?.length) problems.push(`${name}: no queries`);
    const refIds = new Set<string | undefined>();
    for (const target of panel.targets ?? []) {
      const where = `${name} query ${target.refId}`;
      if (!target.refId || refIds.has(target.refId)) problems.push(`${where}: its refId is missing or not unique`);
      refIds.add(target.refId);
      if (!isDatasourceVariable(target.datasource)) problems.push(`${where}: its data source is not the $datasource variable`);
      if (!target.expr) {
        problems.push(`${where}: no expr`);
        continue;
      }
      const checked = queryProblems(target.expr, names, catalog);
      problems.push(...checked.problems.map((p) => `${where}: ${p}`));
      for (const [, label] of (target.legendFormat ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g)) {
        if (checked.value?.labels && !checked.value.labels.has(label!)) problems.push(`${where}: the legend shows {{${label}}}, a label the query's result does not have`);
      }
      for (const { area, metric, matcher, fn } of AREAS) {
        const selects = checked.selected.some((s) => s.metric === metric && (!matcher || s.matchers.some((m) => m.label === matcher)));
        if (selects && (!fn || checked.functions.has(fn))) covered.add(area);
      }
    }
  }
  // Grafana moves overlapping panels wherever it likes: the layout must be what was meant.
  for (const [n, a] of topLevel.entries()) {
    for (const b of topLevel.slice(n + 1)) {
      const [p, q] = [a.gridPos, b.gridPos];
      if (p && q && p.x < q.x + q.w && q.x < p.x + p.w && p.y < q.y + q.h && q.y < p.y + p.h) problems.push(`panels ${a.id} and ${b.id} overlap`);
    }
  }
  for (const { area } of AREAS) if (!covered.has(area)) problems.push(`no panel shows ${area}`);
  return problems;
}

// ---------------------------------------------------------------------------------------------

const text = readFileSync(DASHBOARD, 'utf8');
const parsed = (source: string) => JSON.parse(source) as Dashboard;

describe('the Grafana dashboard', () => {
  it('queries only series and labels Orchard and prom-client expose, in PromQL that parses, with one place and $datasource per panel', () => {
    expect(dashboardProblems(parsed(text))).toEqual([]);
    expect(parsed(text).panels!.filter((p) => p.type !== 'row').length).toBeGreaterThanOrEqual(AREAS.length);
  });

  it('is checked against the sample names and labels prom-client really renders', async () => {
    // As the services register them: Orchard's with the default metrics, the storage job's and the views' beside them.
    const orchard = createMetrics('gateway');
    const registry = new Registry();
    const metrics = [...Object.values(orchard), ...Object.values(createStorageMetrics(registry)), ...Object.values(createViewMetrics(registry))];
    for (const metric of metrics) {
      if (!(metric instanceof Counter || metric instanceof Gauge || metric instanceof Histogram)) continue;
      const labels = Object.fromEntries((metric as unknown as { labelNames: string[] }).labelNames.map((l) => [l, 'x']));
      if (metric instanceof Histogram) metric.observe(labels, 1);
      else if (metric instanceof Counter) metric.inc(labels);
      else metric.set(labels, 1);
    }
    const rendered = parsePrometheusText(`${await orchard.registry.metrics()}\n${await registry.metrics()}`);
    const catalog = new Map([...defaultMetricCatalog(), ...metricCatalog()]);
    const samples = [...rendered.values()].flatMap((f) => f.samples);
    for (const sample of samples) {
      expect(catalog.has(sample.name), sample.name).toBe(true);
      for (const label of Object.keys(sample.labels)) expect(catalog.get(sample.name), `${sample.name}{${label}}`).toContain(label);
    }
    const names = new Set(samples.map((s) => s.name));
    for (const name of metricCatalog().keys()) expect(names, name).toContain(name);
  });

  it('parses the PromQL it meets and rejects what Prometheus would', () => {
    const catalog = new Map([...defaultMetricCatalog(), ...metricCatalog()]);
    const check = (promql: string) => queryProblems(promql, new Set(['job']), catalog).problems;
    expect(check('sum by (queue) (rate(orchard_jobs_total{outcome="failed", job=~"$job"}[5m] offset 1h)) > bool 0.1')).toEqual([]);
    expect(check('-max(orchard_storage_bytes) / on () group_left (reason) orchard_evictions_total or vector(0)')).toEqual([]);
    expect(check('sum(rate(orchard_jobs_total[5m])')).toEqual([expect.stringMatching(/does not parse as PromQL: expected \) at/)]);
    expect(check('sum(orchard_jobs_total[5m])')).toEqual(['sum needs an instant vector, not a range vector (orchard_jobs_total)']);
    expect(check('rate(orchard_jobs_total)')).toEqual(['rate needs a range vector as argument 1, not a vector']);
    expect(check('rate(sum(orchard_jobs_total)[5m])')).toEqual(['a range applies to a metric selector only (orchard_jobs_total)']);
    expect(check('irate_total(orchard_jobs_total[5m])')).toEqual(['does not parse as PromQL: unknown function irate_total']);
    expect(check('process_resident_memory_bytes{space="old"}')).toEqual(['process_resident_memory_bytes has no label space']);
    expect(check('orchard_jobs_total{outcome=~"fail(ed"}')).toEqual(['orchard_jobs_total{outcome=~"fail(ed"}: not a regular expression']);
    expect(check('orchard_jobs_total{outcome="a\\.b"}')).toEqual([expect.stringMatching(/unknown escape/)]);
  });

  const mutations: Array<[string, (d: Dashboard) => Dashboard, RegExp]> = [
    ['a misspelt metric', edit('orchard_http_requests_total{', 'orchard_http_request_total{'), /orchard_http_request_total is not declared/],
    ['a histogram read without its _bucket suffix', edit('orchard_job_duration_seconds_bucket', 'orchard_job_duration_seconds'), /orchard_job_duration_seconds is not declared/],
    ['a counter without its _total suffix', edit('orchard_jobs_total{', 'orchard_jobs{'), /orchard_jobs is not declared/],
    ['a default metric prom-client does not have', edit('nodejs_eventloop_lag_p99_seconds', 'nodejs_eventloop_lag_p95_seconds'), /nodejs_eventloop_lag_p95_seconds is neither/],
    [
      'grouping by a label the histogram lacks',
      edit('route, status_class, le', 'route, status, le'),
      /sum by \(status\): orchard_http_request_duration_seconds_bucket has no label status/,
    ],
    ['matching on a label the metric lacks', edit('result="hit"', 'outcome="hit"'), /orchard_cache_lookups_total has no label outcome/],
    ['a queue that does not exist', edit('queue="fetch"', 'queue="fetches"'), /no queue is named fetches/],
    ['histogram_quantile without le', edit('sum by (queue, le)', 'sum by (queue)'), /histogram_quantile: orchard_job_duration_seconds_bucket has no label le/],
    [
      'a ratio of differently grouped sides',
      edit('sum by (category) (rate(orchard_cache_lookups_total', 'sum by (category, result) (rate(orchard_cache_lookups_total'),
      /match on different labels/,
    ],
    [
      'rate of an instant vector',
      edit('(orchard_bytes_fetched_total{job=~"$job", instance=~"$instance"}[$__rate_interval])', '(orchard_bytes_fetched_total{job=~"$job", instance=~"$instance"})'),
      /rate needs a range vector/,
    ],
    ['an unbalanced parenthesis', edit('(rate(orchard_bytes_served_total', '(rate((orchard_bytes_served_total'), /"Bytes served by source".*does not parse/],
    ['a legend label the query drops', edit('{{route}} {{status}}', '{{route}} {{method}}'), /legend shows \{\{method\}\}/],
    ['an unknown template variable', edit('instance=~"$instance"', 'instance=~"$instanc"'), /\$instanc is not a template variable/],
    [
      'a fixed data source',
      (d) => ({ ...d, panels: d.panels!.map((p, n) => (n === 1 ? { ...p, datasource: { type: 'prometheus', uid: 'prometheus-prod' } } : p)) }),
      /data source is not the \$datasource variable/,
    ],
    ['no datasource variable', (d) => ({ ...d, templating: { list: d.templating!.list!.filter((v) => v.name !== 'datasource') } }), /no `datasource` template variable/],
    ['a duplicate panel id', (d) => ({ ...d, panels: d.panels!.map((p, n) => (n === 2 ? { ...p, id: d.panels![1]!.id } : p)) }), /its id is missing or not unique/],
    ['a panel without a gridPos', (d) => ({ ...d, panels: d.panels!.map((p, n) => (n === 3 ? { ...p, gridPos: undefined } : p)) }), /no gridPos/],
    ['overlapping panels', (d) => ({ ...d, panels: d.panels!.map((p, n) => (n === 2 ? { ...p, gridPos: d.panels![1]!.gridPos } : p)) }), /overlap/],
    ['no queue depth panel', (d) => ({ ...d, panels: d.panels!.filter((p) => !JSON.stringify(p.targets ?? []).includes('orchard_queue_jobs')) }), /no panel shows queue depth/],
  ];

  it.each(mutations)('reports %s', (_, mutate, expected) => {
    const problems = dashboardProblems(mutate(parsed(text)));
    expect(
      problems.some((p) => expected.test(p)),
      problems.join('\n') || 'no problem reported',
    ).toBe(true);
  });
});

/** A copy of the dashboard with the first `from` in a query or a legend replaced by `to` (which must be there to replace). */
function edit(from: string, to: string): (d: Dashboard) => Dashboard {
  return (d) => {
    const copy = structuredClone(d);
    for (const target of copy.panels!.flatMap((p) => p.targets ?? [])) {
      for (const field of ['expr', 'legendFormat'] as const) {
        if (target[field]?.includes(from)) {
          target[field] = target[field].replace(from, to);
          return copy;
        }
      }
    }
    throw new Error(`no query or legend in the dashboard has ${from} to change`);
  };
}
