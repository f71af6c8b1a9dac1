/**
 * The protocol adapter contract. Services speak only these types and find implementations through
 * the registry (`registered-protocols.ts`); a second protocol must fit without touching the services.
 */
import type { Readable } from 'node:stream';
import type { PageLimits } from './page-limits.js';

/**
 * The page formats Orchard serves; each protocol renders the ones in its `pageFormats`: PyPI's PEP
 * 503 HTML (`html`) and PEP 691 JSON (`json`); npm's full packument (`json`) and the abbreviated
 * one npm and pnpm install from (`abbreviated`, `application/vnd.npm.install-v1+json`).
 */
export type PageFormat = 'html' | 'json' | 'abbreviated';

/** A digest a file's index publishes, the one its bytes are verified against. */
export interface FileDigest {
  algorithm: 'sha256' | 'sha512' | 'sha1';
  /** Lowercase hex. */
  hex: string;
}

/** What a page request is answered with: the format and the exact Content-Type. */
export interface NegotiatedFormat {
  format: PageFormat;
  contentType: string;
}

/** One file of a project as its upstream index describes it (PEP 503 / 691 / 592 / 658 / 700 / 714). */
export interface ProjectFile {
  filename: string;
  /** Absolute upstream URL, without the hash fragment. */
  url: string;
  /** Hash name → lowercase hex digest, e.g. { sha256: "…" }. */
  hashes: Record<string, string>;
  requiresPython?: string;
  /** PEP 592: false/absent, true, or the reason string. */
  yanked?: boolean | string;
  /** PEP 658/714: true, or the metadata file's hashes. Absent when not advertised. */
  coreMetadata?: boolean | Record<string, string>;
  /** PEP 700 */
  size?: number;
  uploadTime?: string;
  /** PEP 503 data-gpg-sig / PEP 691 gpg-sig */
  gpgSig?: boolean;
  /** JSON keys this version of Orchard does not know, passed through unchanged. */
  extra?: Record<string, unknown>;
}

/** A project's page: the unit Orchard caches per project. */
export interface ProjectPage {
  /** Name as the upstream spelled it. */
  name: string;
  /** PEP 691 `meta` (at least `api-version`); unknown keys passed through. */
  meta: Record<string, unknown> & { 'api-version': string };
  /** PEP 700 versions, when the upstream sent them. */
  versions?: string[];
  files: ProjectFile[];
  /** Unknown top-level JSON keys, passed through. */
  extra?: Record<string, unknown>;
}

/** One project of the root index. */
export interface RootEntry {
  name: string;
}

/** Incremental parser of an upstream root index: fed the body chunk by chunk, never whole. */
export interface RootIndexParser {
  /** Feeds the next chunk of the body. */
  write(chunk: Buffer): void;
  /** Ends the body; throws the implementation's malformed-page error on an unusable one. */
  end(): void;
}

/**
 * Incremental parser of an upstream project page: fed the body chunk by chunk (so a page past its
 * limits is refused while it arrives), then built in steps.
 */
export interface ProjectPageParser {
  /** Feeds the next chunk of the body; throws PageLimitError past a limit. */
  write(chunk: Buffer): void;
  /**
   * Ends the body and builds the page. Each step the generator yields is a point where the caller
   * may let other work run (a page of 100,000 files is not built in one go); it returns the page, or
   * throws the implementation's malformed-page error or PageLimitError.
   */
  end(): Generator<void, ProjectPage, undefined>;
}

/** A requirement as the extractor stores it. */
export interface Requirement {
  /** The whole requirement string as declared. */
  raw: string;
  /** Name as written. */
  name: string;
  /** Normalised name (the adapter's `normalizeName`). */
  normalizedName: string;
  extras: string[];
  /** Version specifier, normalised spacing, e.g. ">=1.0,<2"; "" when none. */
  specifier: string;
  /** Direct reference (`name @ url`). */
  url?: string;
  /** The marker expression as written, without the leading `;`. */
  marker?: string;
  /** The extra of the requiring project that activates this requirement (from `extra == "x"`). */
  extra?: string;
  /**
   * What kind of requirement it is; absent: a plain one (PyPI's Requires-Dist). npm:
   * `dependency`, `optional` (optionalDependencies), `peer`, `peer-optional` (a peer marked optional
   * by peerDependenciesMeta).
   */
  kind?: 'dependency' | 'optional' | 'peer' | 'peer-optional';
}

/** A release's metadata as the extractor records it (modelled on Python core metadata 1.0 – 2.4). */
export interface CoreMetadata {
  metadataVersion?: string;
  name: string;
  version: string;
  summary?: string;
  requiresPython?: string;
  /** Requires-Dist, as declared. */
  requiresDist: string[];
  /** The older metadata 1.1 `Requires` field. */
  requires: string[];
  providesExtra: string[];
  dynamic: string[];
  licenseExpression?: string;
  description?: string;
  /** Every header field, lower-cased name → values in order. */
  fields: Record<string, string[]>;
  /** True when some bytes were not valid UTF-8 (those lines were decoded as latin-1). */
  invalidUtf8?: boolean;
}

/** A stored artifact, readable by range (random access) or as one stream. */
export interface ArtifactSource {
  /** Total size in bytes. */
  readonly size: number;
  /** Bytes `start..endInclusive`, within `0..size-1`. */
  read(start: number, endInclusive: number): Promise<Buffer>;
  /** The whole artifact as a stream. */
  open(): Promise<Readable>;
}

/** Everything the extractor records about one artifact. */
export interface ExtractedMetadata {
  /** The metadata file's bytes exactly as found: served as the artifact's metadata file. */
  bytes: Buffer;
  metadata: CoreMetadata;
  requirements: Requirement[];
  /** False when the artifact cannot tell its dependencies (its requirement list is not "none"). */
  dependenciesKnown: boolean;
}

/** How a dependency's condition fares in an environment that may not fix every variable. */
export interface ConditionVerdict {
  verdict: true | false | 'undetermined';
  /** The variables the environment did not fix (sorted), when undetermined. */
  missing: string[];
}

/** An environment the JSON API evaluates dependency conditions in, built from query parameters. */
export interface DependencyEnvironment {
  /** The environment as the API shows it (variable → value, and the extras asked for). */
  readonly description: Record<string, unknown>;
  /** Evaluates one dependency's condition (as stored in its `marker`). */
  evaluate(condition: string): ConditionVerdict;
}

/**
 * What a package-index protocol implements so services stay protocol-agnostic. All members are pure
 * (no I/O of their own); parse functions throw {@link MalformedPageError} (or a subclass) on
 * unusable bodies.
 */
export interface ProtocolAdapter {
  /** Protocol id, used in cache keys (`orchard:{category}:{protocol}:{id}`), queue payloads and upstream rows. */
  readonly name: string;
  /** The `name=url …` upstream list used when none is configured. */
  readonly defaultUpstreams: string;
  /** How a deployment configures the protocol (the variables are declared in the settings schema). */
  readonly configuration: {
    /** The variable listing its upstreams (`name=url …`). */
    upstreamsVariable: string;
    /** The variable of the path prefix its routes are served under, when it can be moved. */
    prefixVariable?: string;
    /** The prefix when none is configured: '' (PyPI's `/simple/` and `/files/`), or e.g. `/npm`. */
    defaultPrefix: string;
  };
  /** Canonical form of a project name (the one URLs, cache keys and stored rows use). */
  normalizeName(name: string): string;
  /** Whether a requested project name is acceptable at all (checked before any upstream call). */
  isValidProjectName(name: string): boolean;
  /** The Accept header for an upstream's project page. */
  readonly projectPageAccept: string;
  /** The URL of a project's page on an upstream whose index is at `upstreamUrl`. */
  projectPageUrl(upstreamUrl: string, project: string): string;
  /** Parses an upstream project page; `contentType` picks the format, `baseUrl` resolves links. */
  parseProjectPage(body: Buffer | string, contentType: string | undefined, baseUrl: string): ProjectPage;
  /** An incremental parser of an upstream project page of `contentType`, bounded by `limits`. */
  createProjectPageParser(contentType: string | undefined, baseUrl: string, limits: PageLimits): ProjectPageParser;
  /**
   * The format and Content-Type a client's page request is answered with, from its `Accept` header
   * and, when given, a `format` query parameter that overrides it; null when nothing is acceptable.
   */
  negotiatePageFormat(accept: string | undefined, format?: string): NegotiatedFormat | null;
  /** The media types a client may ask pages in, for a 406 message. */
  readonly acceptablePageTypes: string;
  /** The formats a project page is rendered in (every one is rendered and stored with each fill). */
  readonly pageFormats: readonly PageFormat[];
  /**
   * Renders a page in one of {@link pageFormats}, in chunks (the caller may let other work run
   * between them); `link(file)` gives each file's URL as clients see it (without fragment).
   */
  renderProject(format: PageFormat, page: ProjectPage, link: (file: ProjectFile) => string): Iterable<string>;
  /**
   * The content identity of a file: 64 lowercase hex digits naming its bytes (storage key, file
   * URLs, database rows), derived from {@link fileDigest}: the sha256 itself for PyPI. Undefined
   * when the index published no digest Orchard verifies (such files are not served).
   */
  fileIdentity(file: ProjectFile): string | undefined;
  /** The digest a file's bytes are verified against before anything is stored or served. */
  fileDigest(file: ProjectFile): FileDigest | undefined;
  /**
   * How clients ask for pages under the protocol's mount: `pep503` is `/simple/<name>/` (canonical
   * name, trailing slash, other spellings redirected); `registry` (npm's registry API) is `/<name>` (a scoped name as
   * `@scope/name` or `@scope%2fname`) with no redirect.
   */
  readonly pagePaths: 'pep503' | 'registry';
  /** Whether the protocol has a root list of every project (`/simple/`). */
  readonly hasRootIndex: boolean;
  /**
   * The body of an error answer in the protocol's own shape (npm clients read `{"error": "..."}`);
   * undefined: Orchard's plain-text message.
   */
  errorBody?(status: number, message: string): { contentType: string; body: string };
  /**
   * Whether the metadata Orchard extracts from this file may be advertised and served as its
   * metadata file when the upstream did not offer one (e.g. only for formats whose metadata is
   * complete without a build).
   */
  advertisesExtractedMetadata(filename: string): boolean;
  /** The Accept header for an upstream's root index (the format cheapest to parse incrementally first). */
  readonly rootIndexAccept: string;
  /** A parser for an upstream root index body of `contentType`, calling `onEntry` per project. */
  createRootIndexParser(contentType: string | undefined, onEntry: (entry: RootEntry) => void, maxBytes: number): RootIndexParser;
  /** Renders the root index in chunks (a list of 700k projects is never one string). */
  renderRootIndex(format: PageFormat, entries: Iterable<RootEntry>): Iterable<string>;
  /**
   * Reads and parses a stored artifact's metadata and requirements.
   * @throws ArtifactMetadataError when the artifact cannot be read for metadata, now or ever
   */
  extractMetadata(filename: string, source: ArtifactSource): Promise<ExtractedMetadata>;
  /**
   * The metadata file Orchard serves for an artifact it extracted itself (one that
   * {@link advertisesExtractedMetadata}), read by random access.
   */
  readMetadataFile(filename: string, source: Pick<ArtifactSource, 'size' | 'read'>): Promise<Buffer>;
  /** The version a file name carries, when it carries one. */
  versionFromFilename(filename: string): string | undefined;
  /** A total order of version strings: the protocol's version order, invalid versions after valid ones. */
  compareVersions(a: string, b: string): number;
  /** Whether two version strings name the same version (e.g. `1.0` and `1.0.0`). */
  sameVersion(a: string, b: string): boolean;
  /** Whether a string is one of the protocol's version specifiers (PEP 440 for PyPI), as views take them. */
  isValidVersionSpecifier(specifier: string): boolean;
  /** Whether a version meets a specifier (pre-releases judged like any version). */
  versionSatisfies(version: string, specifier: string): boolean;
  /** Whether a version is a pre-release. */
  isPrerelease(version: string): boolean;
  /**
   * The environment a JSON API query asks dependencies to be evaluated in; undefined when the query
   * has no evaluation parameters.
   * @throws EnvironmentQueryError for an unknown, repeated or bad parameter
   */
  dependencyEnvironment(query: Record<string, unknown>): DependencyEnvironment | undefined;
}
