/**
 * The largest real core metadata: scans every wheel under the given directories (default: the
 * local PyPI trees of this machine's pip configuration) with Orchard's own wheel reader and parser,
 * and reports the largest METADATA and the most requirements any of them declares. These figures
 * justify the extractor's bounds (MAX_METADATA_BYTES, MAX_REQUIREMENTS in libs/protocol/pypi).
 *
 *   npx tsx bench/metadata-sizes.ts [dir …]      prints a JSON result
 */
import { open, readdir } from 'node:fs/promises';
import path from 'node:path';
import { readWheelMetadata, type RangeSource } from '../libs/protocol/pypi/archive/index.js';
import { MAX_METADATA_BYTES, MAX_REQUIREMENTS } from '../libs/protocol/pypi/metadata-bounds.js';
import { parseCoreMetadata } from '../libs/protocol/pypi/core-metadata.js';

const DEFAULT_DIRS = ['/opt/pypi/files', '/opt/pypi-more/files', '/opt/wheels'];
const TOP = 5;

interface WheelFigures {
  file: string;
  metadataBytes: number;
  requirements: number;
}

async function* wheelsUnder(dir: string): AsyncGenerator<string> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* wheelsUnder(full);
    else if (entry.name.endsWith('.whl')) yield full;
  }
}

async function measure(file: string): Promise<WheelFigures> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const source: RangeSource = {
      size,
      read: async (start, end) => {
        const buf = Buffer.alloc(end - start + 1);
        const { bytesRead } = await handle.read(buf, 0, buf.length, start);
        return buf.subarray(0, bytesRead);
      },
    };
    // Unbounded here: the point is to see how large real files are, not to apply the bounds.
    const { bytes } = await readWheelMetadata(source, path.basename(file), { maxMetadataBytes: 2 ** 30, maxCompressionRatio: 1e6 });
    const metadata = parseCoreMetadata(bytes, { maxBytes: 2 ** 30 });
    const requirements = metadata.requiresDist.length || metadata.requires.length;
    return { file: path.basename(file), metadataBytes: bytes.length, requirements };
  } finally {
    await handle.close();
  }
}

async function main(): Promise<void> {
  const dirs = process.argv.slice(2).length > 0 ? process.argv.slice(2) : DEFAULT_DIRS;
  const figures: WheelFigures[] = [];
  const failures: { file: string; reason: string }[] = [];
  for (const dir of dirs) {
    for await (const file of wheelsUnder(dir)) {
      try {
        figures.push(await measure(file));
      } catch (err) {
        failures.push({ file: path.basename(file), reason: (err as Error).message });
      }
    }
  }
  const bySize = [...figures].sort((a, b) => b.metadataBytes - a.metadataBytes);
  const byRequirements = [...figures].sort((a, b) => b.requirements - a.requirements);
  const largest = bySize[0];
  const most = byRequirements[0];
  const result = {
    benchmark: 'metadata-sizes',
    date: new Date().toISOString(),
    dirs,
    wheels: figures.length,
    unreadable: failures,
    largestMetadata: bySize.slice(0, TOP),
    mostRequirements: byRequirements.slice(0, TOP),
    bounds: { maxMetadataBytes: MAX_METADATA_BYTES, maxRequirements: MAX_REQUIREMENTS },
    margin: {
      metadataBytes: largest ? round(MAX_METADATA_BYTES / largest.metadataBytes) : null,
      requirements: most && most.requirements > 0 ? round(MAX_REQUIREMENTS / most.requirements) : null,
    },
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

await main();
