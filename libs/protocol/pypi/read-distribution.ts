import type { Readable } from 'node:stream';
import type { CoreMetadata, Requirement } from '../types.js';
import { readSdistPkgInfo, readWheelMetadata, UnsupportedArchiveError, type RangeSource } from './archive/index.js';
import { parseCoreMetadata } from './core-metadata.js';
import { MetadataError, RequirementError } from './errors.js';
import { classifyFilename } from './filenames.js';
import { MAX_REQUIREMENTS } from './metadata-bounds.js';
import { parseLegacyRequires, parseRequirement } from './requirements.js';

/** A stored distribution, readable by range (zips) or as a stream (tarballs). */
export interface DistributionSource extends RangeSource {
  open(): Promise<Readable>;
}

/**
 * Longest requirement string accepted, in UTF-8 bytes. PostgreSQL indexes (artifact, raw) in a
 * B-tree whose entries must stay under ~2.7 KB; real requirements, URLs included, are far shorter.
 */
export const MAX_REQUIREMENT_BYTES = 2000;

/** Everything the extractor records about one distribution. */
export interface ExtractedMetadata {
  /** The METADATA / PKG-INFO bytes exactly as found: served as the PEP 658 metadata file. */
  bytes: Buffer;
  metadata: CoreMetadata;
  requirements: Requirement[];
  /**
   * False when the file cannot tell its dependencies: an sdist whose metadata predates 2.2 or marks
   * Requires-Dist as dynamic. Its (possibly empty) requirement list is then not "no dependencies".
   */
  dependenciesKnown: boolean;
}

/**
 * Reads and parses a distribution's core metadata: a wheel's `.dist-info/METADATA` by random
 * access, an sdist's top-level PKG-INFO by streaming (zip sdists by random access).
 *
 * @throws UnsupportedArchiveError for formats Orchard does not read (eggs, .tar.bz2, installers)
 * @throws ArchiveError, MetadataError, RequirementError for broken or hostile input
 */
export async function extractDistributionMetadata(filename: string, source: DistributionSource): Promise<ExtractedMetadata> {
  const kind = classifyFilename(filename);
  if (kind === 'egg') throw new UnsupportedArchiveError('eggs are not read for metadata');
  if (kind === 'other') throw new UnsupportedArchiveError('not a wheel or an sdist: not read for metadata');
  const file = kind === 'wheel' ? await readWheelMetadata(source, filename) : await readSdistPkgInfo(() => source.open(), filename, undefined, source);
  const label = kind === 'wheel' ? 'METADATA' : 'PKG-INFO';
  checkIsText(file.bytes, label);
  const metadata = parseCoreMetadata(file.bytes);
  const requirements = parseRequirements(metadata, label);
  return { bytes: file.bytes, metadata, requirements, dependenciesKnown: kind === 'wheel' || sdistDeclaresDependencies(metadata) };
}

/** Parses the requirements, refusing more than {@link MAX_REQUIREMENTS} before parsing any. */
function parseRequirements(metadata: CoreMetadata, label: string): Requirement[] {
  const legacy = metadata.requiresDist.length === 0;
  const raws = legacy ? metadata.requires : metadata.requiresDist;
  if (raws.length > MAX_REQUIREMENTS) {
    throw new MetadataError(`${label} declares ${raws.length} requirements, more than the ${MAX_REQUIREMENTS} accepted`);
  }
  return raws.map((raw) => {
    if (Buffer.byteLength(raw) > MAX_REQUIREMENT_BYTES) {
      throw new RequirementError(`longer than ${MAX_REQUIREMENT_BYTES} bytes`, `${raw.slice(0, 80)}…`);
    }
    return legacy ? parseLegacyRequires(raw) : parseRequirement(raw);
  });
}

/**
 * Core metadata is text: UTF-8, or (for old files) latin-1, which the parser reads line by line.
 * What neither can decode is refused here: UTF-16/32 (BOM or NUL bytes between ASCII) and binary
 * data. NUL is the tell: no text encoding the parser accepts produces it, and PostgreSQL could not
 * store it anyway.
 */
function checkIsText(bytes: Buffer, label: string): void {
  const bom = bytes.subarray(0, 2);
  if (bom.equals(Buffer.from([0xff, 0xfe])) || bom.equals(Buffer.from([0xfe, 0xff]))) {
    throw new MetadataError(`undecodable ${label}: UTF-16/32 encoded, not UTF-8`);
  }
  if (bytes.includes(0)) throw new MetadataError(`undecodable ${label}: contains NUL bytes (binary or UTF-16 data, not text)`);
}

/** PEP 643: from metadata 2.2 on, a field not marked Dynamic is exactly what every wheel will say. */
function sdistDeclaresDependencies(metadata: CoreMetadata): boolean {
  const [major = 0, minor = 0] = (metadata.metadataVersion ?? '1.0').split('.').map((n) => Number.parseInt(n, 10));
  if (major < 2 || (major === 2 && minor < 2)) return false;
  return !metadata.dynamic.some((field) => field.toLowerCase() === 'requires-dist');
}
