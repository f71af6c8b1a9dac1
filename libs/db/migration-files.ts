import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256Hex } from './sha256.js';

/** One migration directory's SQL script as found on disk. */
export interface MigrationFile {
  /** The directory name, e.g. `20261126000000_init`; recorded as `migration_name`. */
  name: string;
  sql: string;
  /** sha256 hex of the file bytes, as Prisma records it. */
  checksum: string;
  /** The file's bytes with CRLF line endings normalised, for Prisma's line-ending tolerant comparison. */
  lfChecksum: string;
}

/**
 * Finds `prisma/migrations` by walking up from `start` (defaults to this module's directory), so
 * the same code works from `libs/db/` under tsx and from `dist/libs/db/` after compilation.
 */
export function findMigrationsDir(start: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = resolve(start);
  for (;;) {
    const candidate = join(dir, 'prisma', 'migrations');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`prisma/migrations not found above ${start}`);
    dir = parent;
  }
}

/** Reads every `<dir>/migration.sql` under `migrationsDir`, in lexical order of directory name. */
export async function readMigrationFiles(migrationsDir: string): Promise<MigrationFile[]> {
  const entries = await readdir(migrationsDir, { withFileTypes: true });
  const names = entries
    .filter((e) => e.isDirectory() && existsSync(join(migrationsDir, e.name, 'migration.sql')))
    .map((e) => e.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return Promise.all(
    names.map(async (name) => {
      const bytes = await readFile(join(migrationsDir, name, 'migration.sql'));
      const text = bytes.toString('utf8');
      return {
        name,
        sql: text,
        checksum: sha256Hex(bytes),
        lfChecksum: sha256Hex(text.replace(/\r\n/g, '\n')),
      };
    }),
  );
}

/**
 * Whether a recorded checksum belongs to this file. Like Prisma, a file whose only change is its
 * line endings (a Windows checkout) still matches.
 */
export function checksumMatches(file: MigrationFile, recorded: string): boolean {
  return recorded === file.checksum || recorded === file.lfChecksum;
}
