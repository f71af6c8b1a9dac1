import { describe, expect, it } from 'vitest';
import { pypiProtocol } from '../protocol/pypi/adapter.js';
import { InvalidViewRulesError, compileRules, parseViewsText } from './view-rules.js';

describe('compileRules', () => {
  it('compiles every rule', () => {
    const { compiled } = compileRules(
      {
        description: 'ci',
        'exclude-newer': '2026-11-01T00:00:00Z',
        'min-age': '7d',
        allow: ['Requests', 'flask*'],
        deny: ['flask-evil'],
        versions: { Django: '>=4.2,<5' },
        'exclude-yanked': true,
        'exclude-prereleases': true,
        'unknown-upload-time': 'include',
      },
      pypiProtocol,
    );
    expect(compiled.excludeNewer).toBe(Date.parse('2026-11-01T00:00:00Z'));
    expect(compiled.minAgeMs).toBe(7 * 86_400_000);
    // Globs match normalised names, and are normalised themselves.
    expect(['requests', 'flask', 'flask-login', 'flask-evil', 'django'].map(compiled.hasProject)).toEqual([true, true, true, false, false]);
    expect(compiled.versions.get('django')).toBe('>=4.2,<5');
    expect(compiled).toMatchObject({ excludeYanked: true, excludePrereleases: true, includeUnknownUploadTime: true, filtersProjects: true });
  });

  it('matches a list of thousands of names and globs', () => {
    const allow = [...Array.from({ length: 5000 }, (_, i) => `pkg-${i}`), 'corp-*', 'x?z', 'lib[0-9]'];
    const { compiled } = compileRules({ allow }, pypiProtocol);
    expect(['pkg-0', 'pkg-4999', 'corp-tools', 'xyz', 'lib7', 'pkg-5000', 'corp', 'xyyz', 'libx'].map(compiled.hasProject)).toEqual([
      true,
      true,
      true,
      true,
      true,
      false,
      false,
      false,
      false,
    ]);
  });

  it('takes durations in every unit, and nothing rules out nothing', () => {
    for (const [text, ms] of [
      ['45s', 45_000],
      ['30m', 1_800_000],
      ['1.5h', 5_400_000],
      ['2w', 1_209_600_000],
    ] as const)
      expect(compileRules({ 'min-age': text }, pypiProtocol).compiled.minAgeMs).toBe(ms);
    const { compiled } = compileRules({}, pypiProtocol);
    expect(compiled.hasProject('anything')).toBe(true);
    expect(compiled).toMatchObject({ filtersProjects: false, excludeYanked: false, includeUnknownUploadTime: false });
  });

  it.each([
    [{ 'min-age': '7 days' }, /min-age: a duration/],
    [{ 'exclude-newer': 'yesterday' }, /exclude-newer/],
    [{ versions: { django: '>=x' } }, /versions.django: not a version specifier: >=x/],
    [{ 'exclude-yanked': 'yes' }, /exclude-yanked/],
    [{ 'unknown-upload-time': 'maybe' }, /unknown-upload-time/],
    [{ allow: ['*', '!evil-*'] }, /allow: "!evil-\*": negated patterns are not supported/],
    [{ exclude_newer: '2026-01-01T00:00:00Z' }, /exclude_newer|Unrecognized/],
    ['not an object', /expected object/],
  ])('refuses %j with a message naming the rule', (rules, message) => {
    expect(() => compileRules(rules, pypiProtocol)).toThrow(InvalidViewRulesError);
    expect(() => compileRules(rules, pypiProtocol)).toThrow(message);
  });
});

describe('parseViewsText', () => {
  it('reads the compact form: views separated by spaces, rules by commas, globs and versions by |', () => {
    expect(
      parseViewsText(
        'ci:exclude-newer=2026-11-01T00:00:00Z cool:min-age=7d,exclude-yanked,exclude-prereleases=false  safe:deny=evil-*|typo-*,versions=django>=4.2,<5|urllib3!=2.0.0,unknown-upload-time=include plain',
      ),
    ).toEqual({
      ci: { 'exclude-newer': '2026-11-01T00:00:00Z' },
      cool: { 'min-age': '7d', 'exclude-yanked': true, 'exclude-prereleases': false },
      // A comma inside a specifier stays in it: a new rule starts only with a rule's name.
      safe: { deny: ['evil-*', 'typo-*'], versions: { django: '>=4.2,<5', urllib3: '!=2.0.0' }, 'unknown-upload-time': 'include' },
      plain: {},
    });
  });

  it('reads a JSON object too, and nothing is no views', () => {
    expect(parseViewsText(' {"ci": {"min-age": "1d"}} ')).toEqual({ ci: { 'min-age': '1d' } });
    expect(parseViewsText('  ')).toEqual({});
  });

  it.each([
    ['ci:exclude-newest=2026-11-01T00:00:00Z', /view ci: unknown rule "exclude-newest"/],
    ['ci:min-age', /view ci: min-age needs a value/],
    ['ci:exclude-yanked=yes', /view ci: exclude-yanked is true or false/],
    ['ci:versions=>=1.0', /versions entry ">=1.0" is not <project><specifier>/],
    ['ci: ci:min-age=1d', /view ci is defined twice/],
  ])('refuses %s, naming the view and the rule', (text, message) => {
    expect(() => parseViewsText(text)).toThrow(InvalidViewRulesError);
    expect(() => parseViewsText(text)).toThrow(message);
  });
});
