/**
 * A PromQL parser and checker for deployment files (dashboards, alerts): syntax, value types
 * (instant vector, range vector, scalar, string), functions, and the labels each sub-expression's
 * series carry, given a catalog of metric name -> label names.
 */
import type { MetricReference } from '../ops/consistency.js';
export type ValueType = 'scalar' | 'vector' | 'matrix' | 'string';

/** A sub-expression: its type, the labels its series carry (undefined: unknown), the metrics it reads. */
export interface Value {
  type: ValueType;
  labels?: Set<string>;
  from: string[];
  selector?: boolean;
  text?: string;
}

interface Token {
  kind: 'duration' | 'number' | 'ident' | 'string' | 'op' | 'end';
  text: string;
  at: number;
}

const TOKEN =
  /\s+|#[^\n]*|(?<duration>(?:\d+(?:ms|[smhdwy]))+)(?![\w.])|(?<number>0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?<ident>[a-zA-Z_:][\w:]*)|(?<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)|(?<op>==|!=|<=|>=|=~|!~|[-+*/%^<>=(){}[\],:@])/y;
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v', '\\': '\\', '"': '"', "'": "'" };
const PRECEDENCE: Record<string, number> = {
  or: 1,
  and: 2,
  unless: 2,
  '==': 3,
  '!=': 3,
  '<': 3,
  '<=': 3,
  '>': 3,
  '>=': 3,
  '+': 4,
  '-': 4,
  '*': 5,
  '/': 5,
  '%': 5,
  atan2: 5,
  '^': 6,
};
const COMPARISONS = new Set(['==', '!=', '<', '<=', '>', '>=']);
const SET_OPERATORS = new Set(['and', 'or', 'unless']);
const AGGREGATIONS = new Set(['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio']);
const AGGREGATION_PARAMETER: Record<string, ValueType> = { count_values: 'string', bottomk: 'scalar', topk: 'scalar', quantile: 'scalar', limitk: 'scalar', limit_ratio: 'scalar' };

interface Signature {
  args: ValueType[];
  /** Arguments that may be left out at the end. */
  optional?: number;
  rest?: ValueType;
  returns: ValueType;
}

const OVER_RANGE = ['rate', 'irate', 'increase', 'delta', 'idelta', 'deriv', 'resets', 'changes', 'absent_over_time', 'present_over_time', 'last_over_time'];
const OVER_INSTANT = ['abs', 'absent', 'ceil', 'floor', 'exp', 'ln', 'log2', 'log10', 'sqrt', 'sgn', 'timestamp', 'sort', 'sort_desc', 'deg', 'rad'];
const FUNCTIONS: Record<string, Signature> = {
  ...Object.fromEntries(OVER_RANGE.map((name) => [name, { args: ['matrix'], returns: 'vector' }])),
  ...Object.fromEntries(['avg', 'min', 'max', 'sum', 'count', 'stddev', 'stdvar'].map((name) => [`${name}_over_time`, { args: ['matrix'], returns: 'vector' }])),
  ...Object.fromEntries(OVER_INSTANT.map((name) => [name, { args: ['vector'], returns: 'vector' }])),
  quantile_over_time: { args: ['scalar', 'matrix'], returns: 'vector' },
  predict_linear: { args: ['matrix', 'scalar'], returns: 'vector' },
  histogram_quantile: { args: ['scalar', 'vector'], returns: 'vector' },
  clamp: { args: ['vector', 'scalar', 'scalar'], returns: 'vector' },
  clamp_min: { args: ['vector', 'scalar'], returns: 'vector' },
  clamp_max: { args: ['vector', 'scalar'], returns: 'vector' },
  round: { args: ['vector', 'scalar'], optional: 1, returns: 'vector' },
  label_replace: { args: ['vector', 'string', 'string', 'string', 'string'], returns: 'vector' },
  label_join: { args: ['vector', 'string', 'string'], rest: 'string', returns: 'vector' },
  vector: { args: ['scalar'], returns: 'vector' },
  scalar: { args: ['vector'], returns: 'scalar' },
  time: { args: [], returns: 'scalar' },
};

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  const re = new RegExp(TOKEN.source, 'y');
  for (let at = 0; at < source.length; at = re.lastIndex) {
    re.lastIndex = at;
    const match = re.exec(source);
    if (!match) throw new SyntaxError(`unexpected ${JSON.stringify(source[at])} at ${at}`);
    const kind = (['duration', 'number', 'ident', 'string', 'op'] as const).find((k) => match.groups![k] !== undefined);
    if (kind) tokens.push({ kind, text: match[0], at });
  }
  tokens.push({ kind: 'end', text: '', at: source.length });
  return tokens;
}

function unquote(raw: string): string {
  if (raw.startsWith('`')) return raw.slice(1, -1);
  return raw.slice(1, -1).replace(/\\(.)/g, (_, c: string) => {
    const escaped = ESCAPES[c];
    if (escaped === undefined) throw new SyntaxError(`unknown escape \\${c} in ${raw}`);
    return escaped;
  });
}

const union = (a: Set<string> | undefined, b: Iterable<string> | undefined) => (a && b ? new Set([...a, ...b]) : undefined);
const minus = (a: Set<string> | undefined, b: Iterable<string>) => (a ? new Set([...a].filter((l) => ![...b].includes(l))) : undefined);

interface Matching {
  bool: boolean;
  on?: string[];
  ignoring?: string[];
  group?: { side: 'left' | 'right'; include: string[] };
}

/** One PromQL expression, parsed; `problems` says what is wrong with it besides syntax (which throws). */
export class PromqlChecker {
  readonly problems: string[] = [];
  readonly selected: MetricReference[] = [];
  readonly functions = new Set<string>();
  private readonly tokens: Token[];
  private i = 0;

  /** `targetLabels`: labels Prometheus adds at scrape time (`job`, `instance`), carried by every series. */
  constructor(
    source: string,
    private readonly catalog: Map<string, Set<string>>,
    private readonly targetLabels: readonly string[] = [],
  ) {
    this.tokens = tokenize(source);
  }

  check(): Value {
    const value = this.expr(0);
    this.expect('end');
    return value;
  }

  private peek(): Token {
    return this.tokens[this.i]!;
  }

  private next(): Token {
    return this.tokens[this.i++]!;
  }

  private at(text: string): boolean {
    const t = this.peek();
    return (t.kind === 'op' || t.kind === 'ident') && t.text === text;
  }

  private accept(text: string): boolean {
    if (!this.at(text)) return false;
    this.i++;
    return true;
  }

  private expect(what: string, kind?: Token['kind']): Token {
    const t = this.next();
    if (kind ? t.kind !== kind : what === 'end' ? t.kind !== 'end' : t.text !== what) throw new SyntaxError(`expected ${what} at ${t.at}, found ${t.text || 'the end'}`);
    return t;
  }

  private expr(min: number): Value {
    let left = this.unary();
    for (;;) {
      const t = this.peek();
      const precedence = t.kind === 'op' || t.kind === 'ident' ? PRECEDENCE[t.text] : undefined;
      if (precedence === undefined || precedence < min) return left;
      this.i++;
      const matching = this.matching(t.text);
      const right = this.expr(t.text === '^' ? precedence : precedence + 1);
      left = this.binary(t.text, left, right, matching);
    }
  }

  private unary(): Value {
    if (this.at('-') || this.at('+')) {
      this.i++;
      const operand = this.expr(PRECEDENCE['^']!);
      if (operand.type !== 'scalar' && operand.type !== 'vector') this.problems.push(`unary minus of a ${operand.type}`);
      return { ...operand, selector: false };
    }
    return this.postfix(this.primary());
  }

  private primary(): Value {
    const t = this.next();
    if (t.kind === 'number' || (t.kind === 'ident' && /^(inf|nan)$/i.test(t.text))) return { type: 'scalar', from: [] };
    if (t.kind === 'string') return { type: 'string', from: [], text: unquote(t.text) };
    if (t.kind === 'op' && t.text === '(') {
      const inner = this.expr(0);
      this.expect(')');
      return { ...inner, selector: false };
    }
    if (t.kind === 'op' && t.text === '{') {
      this.i--;
      return this.selector(undefined);
    }
    if (t.kind === 'ident' && !(t.text in PRECEDENCE)) {
      if (AGGREGATIONS.has(t.text) && (this.at('(') || this.at('by') || this.at('without'))) return this.aggregation(t.text);
      if (this.at('(')) return this.call(t.text);
      return this.selector(t.text);
    }
    throw new SyntaxError(`unexpected ${t.text || 'end'} at ${t.at}`);
  }

  private postfix(value: Value): Value {
    for (;;) {
      if (this.accept('[')) {
        this.expect('a duration', 'duration');
        if (this.accept(':')) {
          if (this.peek().kind === 'duration') this.i++;
          if (value.type !== 'vector') this.problems.push(`a subquery of a ${value.type}`);
        } else if (!value.selector) {
          this.problems.push(`a range applies to a metric selector only (${value.from.join(', ') || 'no metric'})`);
        }
        this.expect(']');
        value = { ...value, type: 'matrix', selector: false };
      } else if (this.accept('offset')) {
        this.accept('-');
        this.expect('a duration', 'duration');
      } else if (this.accept('@')) {
        if (this.peek().kind === 'number') this.i++;
        else {
          this.expect('start() or end()', 'ident');
          this.expect('(');
          this.expect(')');
        }
      } else {
        return value;
      }
    }
  }

  private labelList(): string[] {
    this.expect('(');
    const labels: string[] = [];
    while (!this.accept(')')) {
      labels.push(this.expect('a label name', 'ident').text);
      if (!this.at(')')) this.expect(',');
    }
    return labels;
  }

  private requireLabel(value: Value, label: string, where: string): void {
    if (value.labels && !value.labels.has(label)) this.problems.push(`${where}: ${value.from.join(', ') || 'the expression'} has no label ${label}`);
  }

  private selector(name: string | undefined): Value {
    const matchers: MetricReference['matchers'] = [];
    if (this.accept('{')) {
      while (!this.accept('}')) {
        const label = this.expect('a label name', 'ident').text;
        const op = this.next().text;
        if (!['=', '!=', '=~', '!~'].includes(op)) throw new SyntaxError(`expected a matcher operator after ${label}, found ${op}`);
        matchers.push({ label, op, value: unquote(this.expect('a string', 'string').text) });
        if (!this.at('}')) this.expect(',');
      }
    }
    name ??= matchers.find((m) => m.label === '__name__' && m.op === '=')?.value;
    if (name === undefined) {
      this.problems.push('a selector without a metric name');
      return { type: 'vector', from: [] };
    }
    this.selected.push({ metric: name, matchers });
    const known = this.catalog.get(name);
    // promqlProblems reports unknown orchard_ series, in its own words.
    if (!known && !name.startsWith('orchard_')) this.problems.push(`${name} is neither an Orchard metric nor one of prom-client's default metrics`);
    for (const { label, op, value } of matchers) {
      if (known && label !== '__name__' && !known.has(label) && !this.targetLabels.includes(label)) this.problems.push(`${name} has no label ${label}`);
      if (op.endsWith('~')) {
        try {
          new RegExp(`^(?:${value})$`);
        } catch {
          this.problems.push(`${name}{${label}${op}"${value}"}: not a regular expression`);
        }
      }
    }
    return { type: 'vector', labels: known && new Set([...known, ...this.targetLabels]), from: [name], selector: true };
  }

  private grouping(): { kind: 'by' | 'without'; labels: string[] } | undefined {
    if (!this.at('by') && !this.at('without')) return undefined;
    const kind = this.next().text as 'by' | 'without';
    return { kind, labels: this.labelList() };
  }

  private aggregation(name: string): Value {
    let grouping = this.grouping();
    this.expect('(');
    const parameter = AGGREGATION_PARAMETER[name];
    if (parameter) {
      const value = this.expr(0);
      if (value.type !== parameter) this.problems.push(`${name} takes a ${parameter} parameter, not a ${value.type}`);
      this.expect(',');
    }
    const inner = this.expr(0);
    this.expect(')');
    grouping ??= this.grouping();
    if (inner.type !== 'vector') this.problems.push(`${name} needs an instant vector, not a ${inner.type === 'matrix' ? 'range vector' : inner.type} (${inner.from.join(', ')})`);
    if (grouping?.kind === 'by') for (const label of grouping.labels) this.requireLabel(inner, label, `${name} by (${label})`);
    let labels: Set<string> | undefined = new Set();
    if (['topk', 'bottomk', 'limitk', 'limit_ratio'].includes(name)) labels = inner.labels;
    else if (grouping?.kind === 'by') labels = new Set(grouping.labels);
    else if (grouping?.kind === 'without') labels = minus(inner.labels, grouping.labels);
    return { type: 'vector', labels, from: inner.from };
  }

  private call(name: string): Value {
    const signature = FUNCTIONS[name];
    if (!signature) throw new SyntaxError(`unknown function ${name}`);
    this.functions.add(name);
    this.expect('(');
    const args: Value[] = [];
    while (!this.accept(')')) {
      args.push(this.expr(0));
      if (!this.at(')')) this.expect(',');
    }
    const required = signature.args.length - (signature.optional ?? 0);
    if (args.length < required || (!signature.rest && args.length > signature.args.length))
      this.problems.push(`${name} takes ${signature.args.length} arguments, not ${args.length}`);
    args.forEach((arg, n) => {
      const wanted = signature.args[n] ?? signature.rest;
      if (wanted && arg.type !== wanted)
        this.problems.push(`${name} needs a ${wanted === 'matrix' ? 'range vector' : wanted} as argument ${n + 1}, not a ${arg.type === 'matrix' ? 'range vector' : arg.type}`);
    });
    const series = args.find((a) => a.type === 'vector' || a.type === 'matrix');
    let labels = series?.labels;
    if (name === 'histogram_quantile' && series) {
      this.requireLabel(series, 'le', 'histogram_quantile');
      labels = minus(labels, ['le']);
    }
    if (name === 'label_replace' && args[1]?.text) labels = union(labels, [args[1].text]);
    if (name === 'vector') labels = new Set();
    if (name === 'absent' || name === 'absent_over_time') labels = undefined;
    return { type: signature.returns, labels, from: series?.from ?? [] };
  }

  private matching(op: string): Matching {
    const matching: Matching = { bool: false };
    if (this.accept('bool')) {
      if (!COMPARISONS.has(op)) throw new SyntaxError(`bool after ${op}`);
      matching.bool = true;
    }
    if (this.at('on') || this.at('ignoring')) {
      const kind = this.next().text;
      const labels = this.labelList();
      if (kind === 'on') matching.on = labels;
      else matching.ignoring = labels;
      if (this.at('group_left') || this.at('group_right')) {
        const side = this.next().text === 'group_left' ? 'left' : 'right';
        matching.group = { side, include: this.at('(') ? this.labelList() : [] };
      }
    }
    return matching;
  }

  private binary(op: string, left: Value, right: Value, matching: Matching): Value {
    const from = [...left.from, ...right.from];
    for (const side of [left, right]) {
      if (side.type === 'matrix' || side.type === 'string') {
        this.problems.push(`${op} between a ${side.type === 'matrix' ? 'range vector' : side.type} and something else`);
        return { type: 'vector', from };
      }
    }
    if (left.type === 'scalar' && right.type === 'scalar') {
      if (SET_OPERATORS.has(op)) this.problems.push(`${op} between scalars`);
      if (COMPARISONS.has(op) && !matching.bool) this.problems.push(`${op} between scalars needs bool`);
      return { type: 'scalar', from };
    }
    if (left.type === 'scalar' || right.type === 'scalar') {
      if (SET_OPERATORS.has(op)) this.problems.push(`${op} between a scalar and a vector`);
      return { type: 'vector', labels: (left.type === 'vector' ? left : right).labels, from };
    }
    for (const label of matching.on ?? []) {
      this.requireLabel(left, label, `${op} on (${label})`);
      this.requireLabel(right, label, `${op} on (${label})`);
    }
    if (SET_OPERATORS.has(op)) return { type: 'vector', labels: op === 'or' ? union(left.labels, right.labels) : left.labels, from };
    if (matching.group) {
      const many = matching.group.side === 'left' ? left : right;
      return { type: 'vector', labels: union(many.labels, matching.group.include), from };
    }
    if (matching.on) return { type: 'vector', labels: new Set(matching.on), from };
    // One-to-one matching on every label: sides grouped differently match nothing.
    const l = minus(left.labels, matching.ignoring ?? []);
    const r = minus(right.labels, matching.ignoring ?? []);
    if (l && r && (l.size !== r.size || [...l].some((label) => !r.has(label)))) {
      this.problems.push(`${op}: the sides match on different labels, (${[...l].sort().join(', ')}) and (${[...r].sort().join(', ')}), and would never match`);
    }
    return { type: 'vector', labels: l, from };
  }
}
