import picomatch from 'picomatch';
import { z } from 'zod';
import type { ProtocolAdapter } from '../protocol/index.js';

/** A view's name: the `<view>` of `/v/<view>/…`. */
export const VIEW_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Units of a `min-age` duration, in milliseconds. */
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const DURATION = /^(\d+(?:\.\d+)?)([smhdw])$/;

/**
 * A view's rules as configured (`ORCHARD_VIEWS`, the admin API) and stored: the keys users write.
 * Every rule is optional; together they narrow what the view shows.
 */
export const viewRulesSchema = z
  .object({
    description: z.string().max(1000).optional(),
    /** Files uploaded after this instant are hidden: the index as it was then. */
    'exclude-newer': z.iso.datetime({ offset: true }).optional(),
    /** Files younger than this are hidden (`7d`, `12h`, `30m`, `45s`, `2w`): a rolling cooldown. */
    'min-age': z.string().regex(DURATION, 'a duration such as 7d, 12h, 30m, 45s or 2w').optional(),
    /** Only projects whose normalised name matches one of these globs are in the view. */
    allow: z.array(z.string().min(1).max(200)).max(10_000).optional(),
    /** Projects whose normalised name matches one of these globs are not in the view. */
    deny: z.array(z.string().min(1).max(200)).max(10_000).optional(),
    /** Project → version specifier: only versions meeting it are shown (`==1.2` pins, `!=1.3` blocks). */
    versions: z.record(z.string().min(1).max(200), z.string().min(1).max(1000)).optional(),
    'exclude-yanked': z.boolean().optional(),
    'exclude-prereleases': z.boolean().optional(),
    /** What a time rule does with a file whose upload time the upstream did not publish. */
    'unknown-upload-time': z.enum(['include', 'exclude']).optional(),
  })
  .strict();
export type ViewRules = z.infer<typeof viewRulesSchema>;

/** Why a view hides a file (the `rule` label of `orchard_view_hidden_total`). */
export type HidingRule = 'exclude-newer' | 'min-age' | 'unknown-upload-time' | 'versions' | 'exclude-yanked' | 'exclude-prereleases';

/** A view's rules made ready to apply. */
export interface CompiledRules {
  excludeNewer?: number;
  minAgeMs?: number;
  /** Whether a (normalised) project name is in the view. */
  hasProject: (project: string) => boolean;
  /** Normalised project → specifier. */
  versions: Map<string, string>;
  excludeYanked: boolean;
  excludePrereleases: boolean;
  includeUnknownUploadTime: boolean;
  /** Whether the root list differs from the plain one (allow or deny given). */
  filtersProjects: boolean;
}

/** Thrown for rules that parse but cannot apply (a bad specifier); the message says which. */
export class InvalidViewRulesError extends Error {}

/** Validates rules (as JSON from a user) and compiles them for `protocol`; throws InvalidViewRulesError. */
export function compileRules(input: unknown, protocol: ProtocolAdapter): { rules: ViewRules; compiled: CompiledRules } {
  const parsed = viewRulesSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InvalidViewRulesError(`${issue.path.length > 0 ? issue.path.join('.') + ': ' : ''}${issue.message}`);
  }
  const rules = parsed.data;
  const versions = new Map<string, string>();
  for (const [project, specifier] of Object.entries(rules.versions ?? {})) {
    if (!protocol.isValidVersionSpecifier(specifier)) throw new InvalidViewRulesError(`versions.${project}: not a version specifier: ${specifier}`);
    versions.set(protocol.normalizeName(project), specifier);
  }
  const allow = nameMatcher('allow', rules.allow, protocol);
  const deny = nameMatcher('deny', rules.deny, protocol);
  const duration = rules['min-age']?.match(DURATION);
  return {
    rules,
    compiled: {
      ...(rules['exclude-newer'] ? { excludeNewer: Date.parse(rules['exclude-newer']) } : {}),
      ...(duration ? { minAgeMs: Number(duration[1]) * UNIT_MS[duration[2] as keyof typeof UNIT_MS] } : {}),
      hasProject: (project) => (allow === undefined || allow(project)) && (deny === undefined || !deny(project)),
      versions,
      excludeYanked: rules['exclude-yanked'] ?? false,
      excludePrereleases: rules['exclude-prereleases'] ?? false,
      includeUnknownUploadTime: rules['unknown-upload-time'] === 'include',
      filtersProjects: allow !== undefined || deny !== undefined,
    },
  };
}

/** Characters that make a pattern a glob rather than a plain name. */
const GLOB = /[*?[\]{}()!+@]/;

/**
 * Whether a normalised name matches one of `patterns` (normalised too): plain names by a Set, the
 * globs by one regular expression (picomatch's), so a list of thousands costs a lookup per name.
 * A `!` pattern is refused: in a list, a negation would match nearly everything.
 */
function nameMatcher(rule: 'allow' | 'deny', patterns: string[] | undefined, protocol: ProtocolAdapter): ((name: string) => boolean) | undefined {
  if (!patterns || patterns.length === 0) return undefined;
  const names = new Set<string>();
  const globs: string[] = [];
  for (const pattern of patterns) {
    if (pattern.startsWith('!')) throw new InvalidViewRulesError(`${rule}: ${JSON.stringify(pattern)}: negated patterns are not supported (use deny)`);
    const normalized = protocol.normalizeName(pattern);
    if (GLOB.test(normalized)) globs.push(picomatch.makeRe(normalized).source);
    else names.add(normalized);
  }
  const glob = globs.length > 0 ? new RegExp(globs.map((source) => `(?:${source})`).join('|')) : undefined;
  return (name) => names.has(name) || (glob !== undefined && glob.test(name));
}

/**
 * Compiles views as configured (name → rules), in order; throws InvalidViewRulesError naming the
 * view and what is wrong.
 */
export function compileConfiguredViews(views: Record<string, unknown>, protocol: ProtocolAdapter): Array<[string, ReturnType<typeof compileRules>]> {
  return Object.entries(views).map(([name, rules]) => {
    if (!VIEW_NAME.test(name)) throw new InvalidViewRulesError(`view name ${JSON.stringify(name)} must match ${VIEW_NAME.source}`);
    try {
      return [name, compileRules(rules, protocol)];
    } catch (err) {
      if (err instanceof InvalidViewRulesError) throw new InvalidViewRulesError(`view ${name}: ${err.message}`);
      throw err;
    }
  });
}

/** Rule keys of the compact form, in which a `,` starts a new rule only before one of them. */
const RULE_KEYS = ['description', 'exclude-newer', 'min-age', 'allow', 'deny', 'versions', 'exclude-yanked', 'exclude-prereleases', 'unknown-upload-time'];
const NEXT_RULE = new RegExp(`,(?=(?:${RULE_KEYS.join('|')})(?:=|,|$))`);
const BOOLEAN_RULES = new Set(['exclude-yanked', 'exclude-prereleases']);

/**
 * ORCHARD_VIEWS as written: a JSON object of view name → rules, or the compact form, one view per
 * whitespace-separated item `name:rule=value[,rule=value…]` (`allow`/`deny` globs and `versions`
 * entries `|`-separated, e.g. `versions=django>=4.2,<5|urllib3!=2.0.0`; `exclude-yanked` alone means
 * true). Returns name → rules as JSON rules (checked by {@link compileConfiguredViews}).
 */
export function parseViewsText(text: string): Record<string, unknown> {
  const trimmed = text.trim();
  if (trimmed === '') return {};
  if (trimmed.startsWith('{')) {
    const parsed: unknown = JSON.parse(trimmed);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new InvalidViewRulesError('expected a JSON object of view name → rules');
    return parsed as Record<string, unknown>;
  }
  const views: Record<string, unknown> = {};
  for (const item of trimmed.split(/\s+/)) {
    const colon = item.indexOf(':');
    const name = colon < 0 ? item : item.slice(0, colon);
    if (Object.hasOwn(views, name)) throw new InvalidViewRulesError(`view ${name} is defined twice`);
    const rules: Record<string, unknown> = {};
    const rest = colon < 0 ? '' : item.slice(colon + 1);
    for (const part of rest === '' ? [] : rest.split(NEXT_RULE)) {
      const equals = part.indexOf('=');
      const key = equals < 0 ? part : part.slice(0, equals);
      const value = equals < 0 ? undefined : part.slice(equals + 1);
      if (!RULE_KEYS.includes(key)) throw new InvalidViewRulesError(`view ${name}: unknown rule ${JSON.stringify(key)} (rules: ${RULE_KEYS.join(', ')})`);
      rules[key] = compactValue(name, key, value);
    }
    views[name] = rules;
  }
  return views;
}

function compactValue(view: string, key: string, value: string | undefined): unknown {
  if (BOOLEAN_RULES.has(key)) {
    if (value === undefined || value === 'true') return true;
    if (value === 'false') return false;
    throw new InvalidViewRulesError(`view ${view}: ${key} is true or false`);
  }
  if (value === undefined) throw new InvalidViewRulesError(`view ${view}: ${key} needs a value (${key}=…)`);
  if (key === 'allow' || key === 'deny') return value.split('|');
  if (key === 'versions') {
    const versions: Record<string, string> = {};
    for (const entry of value.split('|')) {
      const project = /^[A-Za-z0-9._-]+/.exec(entry)?.[0];
      if (!project || project.length === entry.length) throw new InvalidViewRulesError(`view ${view}: versions entry ${JSON.stringify(entry)} is not <project><specifier>`);
      versions[project] = entry.slice(project.length);
    }
    return versions;
  }
  return value;
}
