import { runMigrations } from './migrate.js';

// Usage: tsx libs/db/migrate-cli.ts [migrationsDir]   |   node dist/libs/db/migrate-cli.js [migrationsDir]
const databaseUrl = process.env['DATABASE_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/orchard';
const migrationsDir = process.argv[2];
const logger = { info: (message: string) => console.log(message) };

runMigrations({ databaseUrl, logger, ...(migrationsDir ? { migrationsDir } : {}) }).then(
  (applied) => console.log(applied.length ? `applied ${applied.length} migration(s)` : 'database is up to date'),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  },
);
