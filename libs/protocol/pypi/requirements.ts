/** PEP 508 requirement strings (Requires-Dist) and metadata 1.1 `Requires` values. */
import { validRange } from '@renovatebot/pep440';
import type { Requirement } from '../types.js';
import { RequirementError } from './errors.js';
import { activatingExtra, parseMarker } from './markers.js';
import { normalizeName } from './names.js';

const NAME = /[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?/y;
const OPERATOR = /===|~=|==|!=|<=|>=|<|>/y;
const VERSION = /[A-Za-z0-9_.*+!-]+/y;
const ARBITRARY = /[^\s;),]+/y;
const URL = /\S+/y;
const SPACE = /\s*/y;

/** A small cursor over the requirement text. */
class Cursor {
  pos = 0;
  constructor(readonly text: string) {}
  fail(why: string): never {
    throw new RequirementError(`${why} at position ${this.pos}`, this.text);
  }
  match(re: RegExp): string | undefined {
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    if (!m) return undefined;
    this.pos = re.lastIndex;
    return m[0];
  }
  skipSpace(): boolean {
    const before = this.pos;
    this.match(SPACE);
    return this.pos > before;
  }
  peek(): string | undefined {
    return this.text[this.pos];
  }
  done(): boolean {
    return this.pos >= this.text.length;
  }
}

function parseExtras(c: Cursor): string[] {
  const extras: string[] = [];
  c.pos++; // '['
  c.skipSpace();
  if (c.peek() === ']') {
    c.pos++;
    return extras;
  }
  for (;;) {
    c.skipSpace();
    const extra = c.match(NAME) ?? c.fail('expected an extra name');
    extras.push(extra);
    c.skipSpace();
    const next = c.peek();
    c.pos++;
    if (next === ']') return extras;
    if (next !== ',') c.fail('expected "," or "]" in extras');
  }
}

/** Parses `op version (, op version)*`; stops before `)`, `;` or the end. */
function parseSpecifiers(c: Cursor): string[] {
  const specs: string[] = [];
  for (;;) {
    c.skipSpace();
    const op = c.match(OPERATOR) ?? c.fail('expected a version operator');
    c.skipSpace();
    const version = c.match(op === '===' ? ARBITRARY : VERSION) ?? c.fail('expected a version');
    const spec = op + version;
    if (!validRange(spec)) c.fail(`invalid version specifier ${JSON.stringify(spec)}`);
    specs.push(spec);
    c.skipSpace();
    if (c.peek() !== ',') return specs;
    c.pos++;
  }
}

function parseMarkerPart(c: Cursor, result: Requirement): void {
  c.pos++; // ';'
  const marker = c.text.slice(c.pos).trim();
  if (marker === '') c.fail('empty marker');
  try {
    const extra = activatingExtra(parseMarker(marker));
    if (extra !== undefined) result.extra = extra;
  } catch (err) {
    throw new RequirementError(err instanceof Error ? err.message : 'invalid marker', c.text);
  }
  result.marker = marker;
  c.pos = c.text.length;
}

/**
 * Parses a PEP 508 requirement: `name [extras] (specifier | (specifier) | @ url) [; marker]`.
 * The specifier is normalised to `op version` joined by `,` in written order; `extra` is the
 * activating extra from the marker (see {@link activatingExtra}).
 * @throws {RequirementError} when the string is not a valid requirement.
 */
export function parseRequirement(raw: string): Requirement {
  const c = new Cursor(raw);
  c.skipSpace();
  const name = c.match(NAME) ?? c.fail('expected a project name');
  const result: Requirement = { raw, name, normalizedName: normalizeName(name), extras: [], specifier: '' };
  c.skipSpace();
  if (c.peek() === '[') result.extras = parseExtras(c);
  c.skipSpace();
  const next = c.peek();
  if (next === '@') {
    c.pos++;
    c.skipSpace();
    result.url = c.match(URL) ?? c.fail('expected a URL');
    // A `;` glued to the URL is part of the URL, so the marker needs whitespace before it.
    const spaced = c.skipSpace();
    if (c.done()) return result;
    if (!spaced || c.peek() !== ';') c.fail('expected whitespace and ";" after the URL');
    parseMarkerPart(c, result);
    return result;
  }
  if (next === '(') {
    c.pos++;
    c.skipSpace();
    if (c.peek() !== ')') result.specifier = parseSpecifiers(c).join(',');
    c.skipSpace();
    if (c.peek() !== ')') c.fail('expected ")"');
    c.pos++;
  } else if (next !== undefined && '<>=!~'.includes(next)) {
    result.specifier = parseSpecifiers(c).join(',');
  }
  c.skipSpace();
  if (c.done()) return result;
  if (c.peek() !== ';') c.fail('unexpected text');
  parseMarkerPart(c, result);
  return result;
}

const LEGACY = /^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\(([^()]*)\))?\s*$/;

/**
 * Parses a metadata 1.1 `Requires` value (`xml.parsers.expat (>1.0, <2)`, `re`): PEP 508 first, then
 * a lenient `name (predicate)` form whose predicate is kept with spaces removed, unvalidated.
 * @throws {RequirementError} when neither form matches.
 */
export function parseLegacyRequires(raw: string): Requirement {
  try {
    return parseRequirement(raw);
  } catch (err) {
    const m = LEGACY.exec(raw);
    if (!m) throw err;
    const name = m[1]!;
    return {
      raw,
      name,
      normalizedName: normalizeName(name),
      extras: [],
      specifier: (m[2] ?? '').replace(/\s+/g, ''),
    };
  }
}
