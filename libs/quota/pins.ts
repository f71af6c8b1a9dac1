import type { EvictionCandidate, StoragePinRow } from '../db/index.js';
import type { ProtocolRegistry } from '../protocol/index.js';

/**
 * Whether a stored file is pinned: its project is pinned (every version), or its version is (by the
 * protocol's own version equality, e.g. `1.0` pins `1.0.0`). The version is the one extraction
 * recorded, else the one its file name carries; a file of unknown version is kept only by a
 * project pin.
 */
export function pinMatcher(
  pins: readonly StoragePinRow[],
  protocols: ProtocolRegistry,
): (file: Pick<EvictionCandidate, 'protocol' | 'project' | 'filename' | 'version'>) => boolean {
  const byProject = new Map<string, string[]>();
  for (const pin of pins) {
    const key = `${pin.protocol}\n${pin.project}`;
    byProject.set(key, [...(byProject.get(key) ?? []), pin.version]);
  }
  return (file) => {
    const versions = byProject.get(`${file.protocol}\n${file.project}`);
    if (!versions) return false;
    if (versions.includes('')) return true;
    if (!protocols.has(file.protocol)) return false;
    const adapter = protocols.get(file.protocol);
    const version = file.version ?? adapter.versionFromFilename(file.filename);
    return version !== undefined && versions.some((pinned) => adapter.sameVersion(pinned, version));
  };
}
