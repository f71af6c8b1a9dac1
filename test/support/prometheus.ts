import { waitFor } from './wait.js';

/**
 * A parser for the Prometheus text exposition format (version 0.0.4, what prom-client writes), so
 * tests assert on metric families, label sets and values rather than on substrings.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name (`foo_bucket`, `foo_sum`, ... for histograms). */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  type: MetricType;
  help: string;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})?\\s+(\\S+)(?:\\s+(-?\\d+))?$`);
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES: Record<MetricType, string[]> = {
  counter: ['_total', ''],
  gauge: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
  untyped: [''],
};

/** Parses an exposition; throws on any line that is not valid text format. */
export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const family = (name: string): MetricFamily => {
    let f = families.get(name);
    if (!f) {
      f = { name, type: 'untyped', help: '', samples: [] };
      families.set(name, f);
    }
    return f;
  };
  text.split('\n').forEach((raw, index) => {
    const line = raw.trimEnd();
    if (line === '') return;
    const fail = (why: string): never => {
      throw new Error(`line ${index + 1}: ${why}: ${line}`);
    };
    if (line.startsWith('#')) {
      const meta = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(line);
      if (!meta) return; // a plain comment
      const [, kind, name, rest = ''] = meta;
      if (!new RegExp(`^${NAME}$`).test(name!)) fail('bad metric name');
      if (kind === 'HELP') family(name!).help = unescapeHelp(rest);
      else {
        if (!TYPES.has(rest as MetricType)) fail('unknown type');
        family(name!).type = rest as MetricType;
      }
      return;
    }
    const match = SAMPLE.exec(line) ?? fail('not a sample');
    const [, sampleName, labelText, valueText] = match;
    const value = parseValue(valueText!) ?? fail('bad value');
    const labels = labelText === undefined ? {} : (parseLabels(labelText) ?? fail('bad labels'));
    const owner = ownerOf(sampleName!, families) ?? fail('sample without a # TYPE line');
    owner.samples.push({ name: sampleName!, labels, value });
  });
  return families;
}

/** The family a sample belongs to: the declared family whose name plus a type suffix is the sample's name. */
function ownerOf(sampleName: string, families: Map<string, MetricFamily>): MetricFamily | undefined {
  for (const f of families.values()) {
    if (SUFFIXES[f.type].some((suffix) => f.name + suffix === sampleName)) return f;
  }
  return undefined;
}

/** A float as Prometheus reads it (Go's ParseFloat: NaN and Inf in any case; prom-client writes `Nan`). */
function parseValue(text: string): number | undefined {
  const lower = text.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (lower === 'nan') return NaN;
  const n = Number(text);
  return Number.isNaN(n) ? undefined : n;
}

/** `a="x",b="y\"z"` → { a: 'x', b: 'y"z' }; undefined when malformed. */
function parseLabels(text: string): Record<string, string> | undefined {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0) return undefined;
    const name = text.slice(i, eq).trim();
    if (!LABEL_NAME.test(name) || name in labels) return undefined;
    if (text[eq + 1] !== '"') return undefined;
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const next = text[++j];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else return undefined;
      } else value += text[j];
    }
    if (j >= text.length) return undefined;
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (i < text.length) return undefined;
  }
  return labels;
}

function unescapeHelp(text: string): string {
  return text.replace(/\\(n|\\)/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
}

/** The samples of `sampleName` (a family name or a histogram's `_count`, `_bucket`, ...) whose labels include `labels`. */
export function samplesOf(families: Map<string, MetricFamily>, sampleName: string, labels: Record<string, string> = {}): Sample[] {
  const all = [...families.values()].flatMap((f) => f.samples);
  return all.filter((s) => s.name === sampleName && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The sum of the matching samples' values (0 when none match). */
export function valueOf(families: Map<string, MetricFamily>, sampleName: string, labels: Record<string, string> = {}): number {
  return samplesOf(families, sampleName, labels).reduce((sum, s) => sum + s.value, 0);
}

/** Fetches and parses `<baseUrl>/metrics`. */
export async function scrape(baseUrl: string): Promise<Map<string, MetricFamily>> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (res.status !== 200) throw new Error(`GET ${baseUrl}/metrics answered ${res.status}`);
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith('text/plain') || !type.includes('version=0.0.4')) throw new Error(`unexpected content-type ${type}`);
  return parsePrometheusText(await res.text());
}

/**
 * Scrapes until the summed value of `sampleName` is at least `min`, and returns it; fails naming the
 * last value. The gateway counts a response (and its bytes) when the response finishes on its side,
 * which the client can see a moment before: a scrape right after a request may not count it yet.
 */
export function scrapeAtLeast(baseUrl: string, sampleName: string, labels: Record<string, string>, min: number, timeoutMs = 10_000): Promise<number> {
  const what = `${sampleName}${JSON.stringify(labels)} ≥ ${min}`;
  return waitFor(
    what,
    async () => {
      const value = valueOf(await scrape(baseUrl), sampleName, labels);
      if (value < min) throw new Error(`${sampleName}${JSON.stringify(labels)} is still ${value}`);
      return value;
    },
    timeoutMs,
    50,
  );
}
