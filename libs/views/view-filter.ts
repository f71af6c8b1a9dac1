import type { ProjectFile, ProjectPage, ProtocolAdapter } from '../protocol/index.js';
import type { CompiledRules, HidingRule } from '../config/index.js';

/** A project page as a view shows it, and how many files and versions each rule hid. */
export interface FilteredPage {
  page: ProjectPage;
  /** Files hidden, by the first rule that hid each. */
  hidden: Map<HidingRule, number>;
  /** Versions left without any file, by the rule that hid the first of their files. */
  hiddenVersions: Map<HidingRule, number>;
  /** When a file the cooldown hides comes of age (the page changes then); undefined when none will. */
  changesAt?: number;
}

/**
 * Applies a view's rules to a project page: every file the rules hide is left out (the first rule
 * that hides it is the one counted), and PEP 700 `versions` keeps only versions with a file left.
 * `now` is the instant a `min-age` cooldown counts from.
 */
export function filterPage(rules: CompiledRules, protocol: ProtocolAdapter, project: string, page: ProjectPage, now: number): FilteredPage {
  const hidden = new Map<HidingRule, number>();
  const specifier = rules.versions.get(project);
  /** Version → the rule that hid its first hidden file, or null once one of its files is shown. */
  const versions = new Map<string, HidingRule | null>();
  let changesAt: number | undefined;
  const files = page.files.filter((file) => {
    const rule = hidingRule(rules, protocol, specifier, file, now);
    const version = protocol.versionFromFilename(file.filename);
    if (rule) hidden.set(rule, (hidden.get(rule) ?? 0) + 1);
    if (rule === 'min-age') changesAt = Math.min(changesAt ?? Infinity, Date.parse(file.uploadTime!) + rules.minAgeMs!);
    if (version !== undefined && (rule === undefined || !versions.has(version))) versions.set(version, rule ?? null);
    return rule === undefined;
  });
  const hiddenVersions = new Map<HidingRule, number>();
  for (const rule of versions.values()) if (rule) hiddenVersions.set(rule, (hiddenVersions.get(rule) ?? 0) + 1);
  const result = { hidden, hiddenVersions, ...(changesAt !== undefined ? { changesAt } : {}) };
  if (files.length === page.files.length) return { page, ...result };
  const filtered: ProjectPage = { ...page, files };
  if (page.versions) filtered.versions = page.versions.filter((version) => shownVersion(protocol, versions, version));
  return { page: filtered, ...result };
}

/**
 * Whether a PEP 700 version keeps a file in the view: by its spelling in the file names (a lookup),
 * else (spelled differently, or without files) as the same version as one shown.
 */
function shownVersion(protocol: ProtocolAdapter, versions: ReadonlyMap<string, HidingRule | null>, version: string): boolean {
  const known = versions.get(version);
  if (known !== undefined) return known === null;
  for (const [other, rule] of versions) if (rule === null && protocol.sameVersion(other, version)) return true;
  return false;
}

function hidingRule(rules: CompiledRules, protocol: ProtocolAdapter, specifier: string | undefined, file: ProjectFile, now: number): HidingRule | undefined {
  if (rules.excludeNewer !== undefined || rules.minAgeMs !== undefined) {
    const uploaded = file.uploadTime === undefined ? NaN : Date.parse(file.uploadTime);
    if (Number.isNaN(uploaded)) {
      if (!rules.includeUnknownUploadTime) return 'unknown-upload-time';
    } else {
      if (rules.excludeNewer !== undefined && uploaded > rules.excludeNewer) return 'exclude-newer';
      if (rules.minAgeMs !== undefined && now - uploaded < rules.minAgeMs) return 'min-age';
    }
  }
  if (rules.excludeYanked && file.yanked !== undefined && file.yanked !== false) return 'exclude-yanked';
  if (specifier === undefined && !rules.excludePrereleases) return undefined;
  const version = protocol.versionFromFilename(file.filename);
  if (specifier !== undefined && (version === undefined || !protocol.versionSatisfies(version, specifier))) return 'versions';
  if (rules.excludePrereleases && version !== undefined && protocol.isPrerelease(version)) return 'exclude-prereleases';
  return undefined;
}
