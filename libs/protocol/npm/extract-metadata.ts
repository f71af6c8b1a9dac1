/** The adapter's metadata members: a tarball's package.json as Orchard records it. */
import { ArtifactMetadataError } from '../errors.js';
import type { ArtifactSource, CoreMetadata, ExtractedMetadata } from '../types.js';
import { isJsonObject, type JsonObject } from './json-values.js';
import { readTarballManifest, type TarballBounds } from './read-tarball-manifest.js';
import { manifestRequirements } from './requirements.js';

function parseManifest(bytes: Buffer): JsonObject {
  let manifest: unknown;
  try {
    manifest = JSON.parse(new TextDecoder('utf-8').decode(bytes).replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new ArtifactMetadataError('failed', `package.json is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isJsonObject(manifest)) throw new ArtifactMetadataError('failed', 'package.json is not a JSON object');
  return manifest;
}

/** `license` in string form: the SPDX expression, or the `type` of the legacy `{ type, url }` object. */
function licenseExpression(license: unknown): string | undefined {
  if (typeof license === 'string') return license;
  if (isJsonObject(license) && typeof license['type'] === 'string') return license['type'];
  return undefined;
}

function coreMetadata(manifest: JsonObject): CoreMetadata {
  const { name, version, description } = manifest;
  if (typeof name !== 'string' || name === '') throw new ArtifactMetadataError('failed', 'package.json has no name');
  if (typeof version !== 'string' || version === '') throw new ArtifactMetadataError('failed', 'package.json has no version');
  const metadata: CoreMetadata = { name, version, requiresDist: [], requires: [], providesExtra: [], dynamic: [], fields: {} };
  if (typeof description === 'string') metadata.summary = description;
  const license = licenseExpression(manifest['license']);
  if (license !== undefined) metadata.licenseExpression = license;
  return metadata;
}

/**
 * A tarball's package.json, its metadata and its dependencies.
 * @throws ArtifactMetadataError `failed` for broken or hostile tarballs and package.json files
 */
export async function extractMetadata(_filename: string, source: ArtifactSource, bounds?: TarballBounds): Promise<ExtractedMetadata> {
  const bytes = await readTarballManifest(await source.open(), bounds);
  const manifest = parseManifest(bytes);
  return { bytes, metadata: coreMetadata(manifest), requirements: manifestRequirements(manifest), dependenciesKnown: true };
}

/** npm has no metadata file of its own to serve (no adapter member asks for one: nothing is advertised). */
export async function readMetadataFile(filename: string): Promise<Buffer> {
  throw new ArtifactMetadataError('unsupported', `npm serves no metadata file apart from the packument (asked for ${filename})`);
}
