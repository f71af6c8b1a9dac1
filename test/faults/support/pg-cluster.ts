/**
 * A PostgreSQL cluster of the test's own (initdb into a temp directory, its own port), so a test
 * can stop and restart PostgreSQL without touching the machine's shared server. Runs as the
 * `postgres` OS user, binaries from PG_BIN (default: the newest /usr/lib/postgresql/<version>/bin).
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../support/orchard.js';

const run = promisify(execFile);
const PG_BIN = process.env.PG_BIN ?? newestPostgresBin();

/** `/usr/lib/postgresql/<newest version>/bin`, where Debian's packages put initdb and pg_ctl. */
function newestPostgresBin(): string {
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0] ?? '15';
  return `/usr/lib/postgresql/${newest}/bin`;
}

async function asPostgres(command: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const asRoot = process.getuid?.() === 0;
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', path.join(PG_BIN, command), ...args]] : [path.join(PG_BIN, command), args];
  const { stdout } = await run(file, argv, { timeout: timeoutMs });
  return stdout;
}

export class PgCluster {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /** `postgresql://` URL of database `name` on this cluster. */
  url(name: string): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/${name}`;
  }

  private get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  static async create(): Promise<PgCluster> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'orchard-pg-'));
    await chmod(dir, 0o755);
    if (process.getuid?.() === 0) {
      const { stdout } = await run('id', ['-u', 'postgres']);
      const { stdout: gid } = await run('id', ['-g', 'postgres']);
      await chown(dir, Number(stdout.trim()), Number(gid.trim()));
    }
    const cluster = new PgCluster(dir, await freePort());
    await asPostgres('initdb', ['-D', cluster.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    await cluster.start();
    return cluster;
  }

  async start(): Promise<void> {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100`;
    await asPostgres('pg_ctl', ['-D', this.dataDir, '-o', options, '-l', path.join(this.dir, 'log'), '-w', '-t', '60', 'start']);
  }

  /** Fast shutdown: open connections are terminated, as in a real restart. */
  async stop(): Promise<void> {
    await asPostgres('pg_ctl', ['-D', this.dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']);
  }

  async destroy(): Promise<void> {
    await asPostgres('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}
