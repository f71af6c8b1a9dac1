/**
 * Evaluated dependency lists for the JSON API (the adapter's `dependencyEnvironment`): a PEP 508 marker environment derived from a few query
 * parameters, and a three-valued evaluation (true / false / undetermined) so a marker that depends
 * on something the parameters do not fix is reported as such instead of silently guessed.
 */
import { EnvironmentQueryError } from '../errors.js';
import type { DependencyEnvironment } from '../types.js';
import { MarkerError } from './errors.js';
import { evaluateMarker, parseMarker, type MarkerEnvironment, type MarkerNode, type MarkerVariable } from './markers.js';
import { normalizeExtra } from './names.js';

/** The query parameters that ask for evaluation, as validated by {@link parseEnvironmentQuery}. */
export interface EvaluationRequest {
  /** `python=3.11` or `python=3.11.4`. */
  python?: string;
  /** `platform=linux|macos|darwin|windows|win32`. */
  platform?: string;
  /** `implementation=cpython|pypy` (default cpython). */
  implementation?: string;
  /** `machine=x86_64|aarch64|arm64|AMD64|…`. */
  machine?: string;
  /** `extras=a,b`: the requiring project's extras, PEP 685-normalised. */
  extras: string[];
}

/** The marker variables a request fixes, and the extras it asks for. */
export interface Environment {
  variables: Partial<MarkerEnvironment>;
  extras: string[];
  /** Set when only `X.Y` was given: python_full_version is then any `X.Y.*`. */
  pythonMinorOnly?: string;
}

const PLATFORMS: Record<string, Pick<MarkerEnvironment, 'sys_platform' | 'platform_system' | 'os_name'>> = {
  linux: { sys_platform: 'linux', platform_system: 'Linux', os_name: 'posix' },
  macos: { sys_platform: 'darwin', platform_system: 'Darwin', os_name: 'posix' },
  darwin: { sys_platform: 'darwin', platform_system: 'Darwin', os_name: 'posix' },
  windows: { sys_platform: 'win32', platform_system: 'Windows', os_name: 'nt' },
  win32: { sys_platform: 'win32', platform_system: 'Windows', os_name: 'nt' },
};
const IMPLEMENTATIONS: Record<string, Pick<MarkerEnvironment, 'implementation_name' | 'platform_python_implementation'>> = {
  cpython: { implementation_name: 'cpython', platform_python_implementation: 'CPython' },
  pypy: { implementation_name: 'pypy', platform_python_implementation: 'PyPy' },
};
const PYTHON = /^(\d{1,2})\.(\d{1,3})(?:\.(\d{1,4}))?$/;
const MACHINE = /^[A-Za-z0-9_.-]{1,32}$/;
const EXTRA = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$/;
const EVALUATION_PARAMS = new Set(['python', 'platform', 'implementation', 'machine', 'extras']);

/**
 * Reads the evaluation parameters; undefined when none is present (the list is then unevaluated).
 * @throws EnvironmentQueryError for an unknown parameter, a repeated one or a bad value
 */
export function parseEnvironmentQuery(query: Record<string, unknown>): EvaluationRequest | undefined {
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(query)) {
    if (!EVALUATION_PARAMS.has(key)) throw new EnvironmentQueryError(`unknown query parameter ${JSON.stringify(key)}; accepted: ${[...EVALUATION_PARAMS].join(', ')}`);
    if (typeof value !== 'string') throw new EnvironmentQueryError(`query parameter ${key} must be given once`);
    values[key] = value;
  }
  if (Object.keys(values).length === 0) return undefined;
  const request: EvaluationRequest = { extras: [] };
  if (values.python !== undefined) {
    if (!PYTHON.test(values.python)) throw new EnvironmentQueryError('python must be a version like 3.11 or 3.11.4');
    request.python = values.python;
  }
  if (values.platform !== undefined) {
    if (!(values.platform.toLowerCase() in PLATFORMS)) throw new EnvironmentQueryError(`platform must be one of ${Object.keys(PLATFORMS).join(', ')}`);
    request.platform = values.platform.toLowerCase();
  }
  if (values.implementation !== undefined) {
    if (!(values.implementation.toLowerCase() in IMPLEMENTATIONS)) throw new EnvironmentQueryError(`implementation must be one of ${Object.keys(IMPLEMENTATIONS).join(', ')}`);
    request.implementation = values.implementation.toLowerCase();
  }
  if (values.machine !== undefined) {
    if (!MACHINE.test(values.machine)) throw new EnvironmentQueryError('machine must be a platform.machine() value such as x86_64, aarch64, arm64 or AMD64');
    request.machine = values.machine;
  }
  if (values.extras !== undefined && values.extras !== '') {
    const extras = values.extras.split(',').map((e) => e.trim());
    const bad = extras.find((e) => !EXTRA.test(e));
    if (bad !== undefined) throw new EnvironmentQueryError(`invalid extra name ${JSON.stringify(bad)}`);
    request.extras = [...new Set(extras.map(normalizeExtra))];
  }
  return request;
}

/** The marker environment a request fixes (see the README's JSON API section for the table). */
export function environmentFor(request: EvaluationRequest): Environment {
  const variables: Partial<MarkerEnvironment> = {};
  let pythonMinorOnly: string | undefined;
  if (request.python !== undefined) {
    const [, major, minor, patch] = PYTHON.exec(request.python)!;
    variables.python_version = `${Number(major)}.${Number(minor)}`;
    if (patch !== undefined) variables.python_full_version = `${Number(major)}.${Number(minor)}.${Number(patch)}`;
    else pythonMinorOnly = variables.python_version;
  }
  if (request.platform !== undefined) Object.assign(variables, PLATFORMS[request.platform]);
  const implementation = request.implementation ?? 'cpython';
  Object.assign(variables, IMPLEMENTATIONS[implementation]);
  if (implementation === 'cpython' && variables.python_full_version !== undefined) {
    variables.implementation_version = variables.python_full_version;
  }
  if (request.machine !== undefined) variables.platform_machine = request.machine;
  return { variables, extras: request.extras, ...(pythonMinorOnly ? { pythonMinorOnly } : {}) };
}

/** The outcome of a marker in an environment that may not fix every variable. */
export type Verdict = true | false | 'undetermined';

/**
 * Evaluates `marker` the way pip does for the requested extras (true if it holds with no extra or
 * with any requested one), in Kleene's three-valued logic: a comparison involving a variable the
 * environment does not fix is undetermined, `and`/`or` combine as usual (false wins `and`, true
 * wins `or`). With only `python=X.Y`, a comparison on python_full_version / implementation_version
 * is decided when it comes out the same for X.Y.0 and X.Y.999, and is undetermined otherwise.
 * @returns the verdict and the variables it could not fix
 */
export function evaluateInEnvironment(marker: string, env: Environment): { verdict: Verdict; missing: MarkerVariable[] } {
  let node: MarkerNode;
  try {
    node = parseMarker(marker);
  } catch (err) {
    if (err instanceof MarkerError) return { verdict: 'undetermined', missing: [] };
    throw err;
  }
  const missing = new Set<MarkerVariable>();
  let verdict: Verdict = false;
  for (const extra of ['', ...env.extras]) {
    const v = evaluateNode(node, env, extra, missing);
    if (v === true) return { verdict: true, missing: [] };
    if (v === 'undetermined') verdict = 'undetermined';
  }
  return { verdict, missing: verdict === 'undetermined' ? [...missing].sort() : [] };
}

const PATCH_SENSITIVE = new Set<MarkerVariable>(['python_full_version', 'implementation_version']);

function evaluateNode(node: MarkerNode, env: Environment, extra: string, missing: Set<MarkerVariable>): Verdict {
  if (node.type !== 'compare') {
    const results = node.items.map((item) => evaluateNode(item, env, extra, missing));
    const decisive = node.type === 'and' ? false : true;
    if (results.includes(decisive)) return decisive;
    return results.includes('undetermined') ? 'undetermined' : !decisive;
  }
  const variables = [node.left, node.right].flatMap((v) => (v.kind === 'variable' && v.name !== 'extra' ? [v.name] : []));
  const unknown = variables.filter((name) => env.variables[name] === undefined && !(PATCH_SENSITIVE.has(name) && env.pythonMinorOnly));
  if (unknown.length > 0) {
    for (const name of unknown) missing.add(name);
    return 'undetermined';
  }
  const decide = (vars: Partial<MarkerEnvironment>): boolean | undefined => {
    try {
      return evaluateMarker(node, { ...vars, extra });
    } catch (err) {
      if (err instanceof MarkerError) return undefined;
      throw err;
    }
  };
  let result: boolean | undefined;
  if (env.pythonMinorOnly && variables.some((name) => PATCH_SENSITIVE.has(name) && env.variables[name] === undefined)) {
    const at = (patch: number) => {
      const full = `${env.pythonMinorOnly}.${patch}`;
      const cpython = env.variables.implementation_name === 'cpython';
      return decide({ ...env.variables, python_full_version: full, ...(cpython ? { implementation_version: full } : {}) });
    };
    const low = at(0);
    const high = at(999);
    result = low === high ? low : undefined;
    if (result === undefined) for (const name of variables) if (PATCH_SENSITIVE.has(name)) missing.add(name);
  } else {
    result = decide(env.variables);
  }
  return result === undefined ? 'undetermined' : result;
}

/**
 * The environment a JSON API query fixes, as the adapter contract's {@link DependencyEnvironment};
 * undefined when the query has no evaluation parameters.
 * @throws EnvironmentQueryError for an unknown parameter, a repeated one or a bad value
 */
export function dependencyEnvironment(query: Record<string, unknown>): DependencyEnvironment | undefined {
  const request = parseEnvironmentQuery(query);
  if (!request) return undefined;
  const env = environmentFor(request);
  return {
    description: { ...env.variables, extras: env.extras },
    evaluate: (marker) => evaluateInEnvironment(marker, env),
  };
}
