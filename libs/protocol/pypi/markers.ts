/** PEP 508 environment markers: parse and evaluate (semantics follow `packaging.markers`). */
import { satisfies, valid, validRange } from '@renovatebot/pep440';
import { MarkerError } from './errors.js';
import { normalizeExtra } from './names.js';

/** The marker variables of PEP 508. */
export const MARKER_VARIABLES = [
  'python_version',
  'python_full_version',
  'os_name',
  'sys_platform',
  'platform_release',
  'platform_system',
  'platform_version',
  'platform_machine',
  'platform_python_implementation',
  'implementation_name',
  'implementation_version',
  'extra',
] as const;

/** A PEP 508 marker variable name. */
export type MarkerVariable = (typeof MARKER_VARIABLES)[number];

/** Values of every marker variable, as Python's `packaging.markers.default_environment()` gives them. */
export type MarkerEnvironment = Record<MarkerVariable, string>;

/** Comparison operators of PEP 508. */
export type MarkerOperator = '<' | '<=' | '!=' | '==' | '>=' | '>' | '~=' | '===' | 'in' | 'not in';

/** One side of a comparison. */
export type MarkerValue = { kind: 'variable'; name: MarkerVariable } | { kind: 'string'; value: string };

/** A parsed marker expression. */
export type MarkerNode = { type: 'and' | 'or'; items: MarkerNode[] } | { type: 'compare'; left: MarkerValue; op: MarkerOperator; right: MarkerValue };

/** Legacy spellings `packaging` still accepts. */
const ALIASES: Record<string, MarkerVariable> = {
  'os.name': 'os_name',
  'sys.platform': 'sys_platform',
  'platform.version': 'platform_version',
  'platform.machine': 'platform_machine',
  'platform.python_implementation': 'platform_python_implementation',
  python_implementation: 'platform_python_implementation',
};
const VARIABLES = new Set<string>(MARKER_VARIABLES);
const TOKEN = /\s*(?:(\()|(\))|'([^']*)'|"([^"]*)"|(===|==|!=|<=|>=|~=|<|>)|(not\s+in\b)|([A-Za-z_][A-Za-z0-9_.]*))/y;

type Token = { t: '(' | ')' } | { t: 'str'; v: string } | { t: 'op'; v: MarkerOperator } | { t: 'word'; v: string };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  let pos = 0;
  for (;;) {
    while (pos < source.length && /\s/.test(source[pos]!)) pos++;
    if (pos >= source.length) return tokens;
    TOKEN.lastIndex = pos;
    const m = TOKEN.exec(source);
    if (!m) throw new MarkerError(`unexpected input at position ${pos}`, source);
    pos = TOKEN.lastIndex;
    if (m[1]) tokens.push({ t: '(' });
    else if (m[2]) tokens.push({ t: ')' });
    else if (m[3] !== undefined || m[4] !== undefined) tokens.push({ t: 'str', v: (m[3] ?? m[4])! });
    else if (m[5]) tokens.push({ t: 'op', v: m[5] as MarkerOperator });
    else if (m[6]) tokens.push({ t: 'op', v: 'not in' });
    else if (m[7] === 'in') tokens.push({ t: 'op', v: 'in' });
    else tokens.push({ t: 'word', v: m[7]! });
  }
}

/**
 * Parses a marker expression (`and` binds tighter than `or`; parentheses group).
 * @throws {MarkerError} on a syntax error or an unknown variable.
 */
export function parseMarker(source: string): MarkerNode {
  const tokens = tokenize(source);
  let i = 0;
  const fail = (why: string): never => {
    throw new MarkerError(why, source);
  };
  const isWord = (w: string): boolean => {
    const tok = tokens[i];
    return tok?.t === 'word' && tok.v === w;
  };
  const value = (): MarkerValue => {
    const tok = tokens[i++];
    if (tok?.t === 'str') return { kind: 'string', value: tok.v };
    if (tok?.t === 'word') {
      const name = ALIASES[tok.v] ?? tok.v;
      if (VARIABLES.has(name)) return { kind: 'variable', name: name as MarkerVariable };
      return fail(`unknown marker variable ${JSON.stringify(tok.v)}`);
    }
    return fail('expected a variable or a quoted string');
  };
  const atom = (): MarkerNode => {
    if (tokens[i]?.t === '(') {
      i++;
      const inner = or();
      if (tokens[i++]?.t !== ')') fail('missing )');
      return inner;
    }
    const left = value();
    const op = tokens[i++];
    if (op?.t !== 'op') return fail('expected a comparison operator');
    return { type: 'compare', left, op: op.v, right: value() };
  };
  const chain = (kind: 'and' | 'or', next: () => MarkerNode): MarkerNode => {
    const items = [next()];
    while (isWord(kind)) {
      i++;
      items.push(next());
    }
    return items.length === 1 ? items[0]! : { type: kind, items };
  };
  const and = (): MarkerNode => chain('and', atom);
  const or = (): MarkerNode => chain('or', and);
  if (tokens.length === 0) fail('empty marker');
  const node = or();
  if (i !== tokens.length) fail('unexpected trailing input');
  return node;
}

/**
 * The extra that activates a requirement: the value of an `extra == "x"` (either operand order)
 * that is one of the marker's top-level conjuncts, PEP 685-normalised. Undefined when the extra
 * only appears under `or` (e.g. `extra == "a" or extra == "b"`): such markers are kept whole and
 * must be evaluated, since no single extra activates them.
 */
export function activatingExtra(node: MarkerNode): string | undefined {
  if (node.type === 'and') {
    for (const item of node.items) {
      const extra = activatingExtra(item);
      if (extra !== undefined) return extra;
    }
    return undefined;
  }
  if (node.type !== 'compare' || node.op !== '==') return undefined;
  const { left, right } = node;
  if (left.kind === 'variable' && left.name === 'extra' && right.kind === 'string') return normalizeExtra(right.value);
  if (right.kind === 'variable' && right.name === 'extra' && left.kind === 'string') return normalizeExtra(left.value);
  return undefined;
}

/** The environment {@link evaluateMarker} takes: any subset of variables, plus requested extras. */
export type MarkerEvaluationEnvironment = Partial<MarkerEnvironment> & { extras?: string[] };

/** Options for {@link evaluateMarker}. */
export interface EvaluateMarkerOptions {
  /**
   * A variable missing from the environment: `error` (default) throws {@link MarkerError} like
   * packaging's UndefinedEnvironmentName; `false` makes every comparison using it false.
   */
  onMissing?: 'error' | 'false';
}

const MISSING = Symbol('missing');

function compare(lhs: string, op: MarkerOperator, rhs: string, source: string): boolean {
  switch (op) {
    case 'in':
      return rhs.includes(lhs);
    case 'not in':
      return !rhs.includes(lhs);
    case '===':
      return lhs.toLowerCase() === rhs.toLowerCase();
    default:
      break;
  }
  // PEP 440 rules apply when both sides are versions; otherwise Python's string operators.
  if (!/[\s,]/.test(rhs) && valid(lhs) !== null && validRange(op + rhs)) {
    return satisfies(lhs, op + rhs, { prereleases: true });
  }
  switch (op) {
    case '==':
      return lhs === rhs;
    case '!=':
      return lhs !== rhs;
    case '<':
      return lhs < rhs;
    case '<=':
      return lhs <= rhs;
    case '>':
      return lhs > rhs;
    case '>=':
      return lhs >= rhs;
    case '~=':
      throw new MarkerError(`undefined comparison ${JSON.stringify(lhs)} ~= ${JSON.stringify(rhs)}`, source);
  }
}

function evaluateNode(node: MarkerNode, env: Partial<MarkerEnvironment>, onMissing: 'error' | 'false', source: string): boolean {
  if (node.type !== 'compare') {
    const test = (n: MarkerNode): boolean => evaluateNode(n, env, onMissing, source);
    return node.type === 'and' ? node.items.every(test) : node.items.some(test);
  }
  const resolve = (v: MarkerValue): string | typeof MISSING => {
    if (v.kind === 'string') return v.value;
    const value = env[v.name];
    if (value !== undefined) return value;
    if (onMissing === 'error') throw new MarkerError(`undefined environment variable ${v.name}`, source);
    return MISSING;
  };
  let lhs = resolve(node.left);
  let rhs = resolve(node.right);
  if (lhs === MISSING || rhs === MISSING) return false;
  const isExtra = (v: MarkerValue): boolean => v.kind === 'variable' && v.name === 'extra';
  if (isExtra(node.left) || isExtra(node.right)) {
    lhs = normalizeExtra(lhs);
    rhs = normalizeExtra(rhs);
  }
  return compare(lhs, node.op, rhs, source);
}

/**
 * Evaluates a marker. `extra`: when `env.extra` is set it is used as is; otherwise the marker is
 * true if it holds for no extra (`""`, as packaging defaults it) or for any of `env.extras` (pip's
 * rule for requested extras). `python_version` is derived from `python_full_version` when only the
 * latter is given, and vice versa (`"3.12"` equals `"3.12.0"` under PEP 440).
 * @throws {MarkerError} on a syntax error, or a missing variable unless `onMissing: 'false'`.
 */
export function evaluateMarker(marker: string | MarkerNode, env: MarkerEvaluationEnvironment, options: EvaluateMarkerOptions = {}): boolean {
  const source = typeof marker === 'string' ? marker : '<parsed marker>';
  const node = typeof marker === 'string' ? parseMarker(marker) : marker;
  const { extras, ...vars } = env;
  const base: Partial<MarkerEnvironment> = { ...vars };
  if (base.python_version === undefined && base.python_full_version !== undefined) {
    const m = /^(\d+)\.(\d+)/.exec(base.python_full_version);
    if (m) base.python_version = `${m[1]}.${m[2]}`;
  }
  base.python_full_version ??= base.python_version;
  const onMissing = options.onMissing ?? 'error';
  if (base.extra !== undefined) return evaluateNode(node, base, onMissing, source);
  for (const extra of ['', ...(extras ?? [])]) {
    if (evaluateNode(node, { ...base, extra }, onMissing, source)) return true;
  }
  return false;
}
