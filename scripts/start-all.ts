/**
 * `npm start`: all three services in one process tree for a single machine. Each runs as its own
 * child process (as it would in production), restarted if it dies; SIGTERM is passed on to all.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSettingsOrExit } from '../libs/config/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ext = path.extname(fileURLToPath(import.meta.url));
const services = ['gateway', 'fetcher', 'extractor'] as const;

// Nothing waits for PostgreSQL here: with ORCHARD_MIGRATE=auto (the default) each service creates
// and migrates the database in the background (serialised on an advisory lock) and serves what
// needs no database meanwhile; with off they wait for `npm run migrate` instead.
const settings = loadSettingsOrExit();

const children = new Map<string, ChildProcess>();
let stopping = false;

function start(name: (typeof services)[number]): void {
  const child = fork(path.join(here, '..', 'services', name, `main${ext}`), [], { stdio: 'inherit' });
  children.set(name, child);
  child.on('exit', (code, signal) => {
    children.delete(name);
    if (stopping) return;
    if (code === 2) {
      // A configuration error: restarting cannot help.
      process.stderr.write(`orchard: ${name} refused its configuration; stopping\n`);
      stopAll();
      return;
    }
    process.stderr.write(`orchard: ${name} exited (${signal ?? code}); restarting in 1 s\n`);
    setTimeout(() => start(name), 1_000).unref();
  });
}

for (const name of services) start(name);

function stopAll(): void {
  stopping = true;
  for (const child of children.values()) child.kill('SIGTERM');
  const deadline = setTimeout(() => process.exit(1), settings.shutdownTimeoutMs + 5_000);
  const wait = setInterval(() => {
    if (children.size === 0) {
      clearInterval(wait);
      clearTimeout(deadline);
      process.exit(0);
    }
  }, 100);
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, stopAll);
