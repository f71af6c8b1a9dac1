import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export type Service = 'gateway' | 'fetcher' | 'extractor';
const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** Orchard's compiled services (`dist/`), run as in production. */
export class OrchardUnderTest {
  readonly children = new Map<Service, ChildProcess>();
  constructor(
    readonly env: Record<string, string>,
    readonly ports: Record<Service, number>,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.ports.gateway}`;
  }

  pid(service: Service): number {
    return this.children.get(service)!.pid!;
  }

  async start(services: Service[] = ['gateway', 'fetcher', 'extractor']): Promise<void> {
    for (const service of services) {
      const env: NodeJS.ProcessEnv = { ...process.env, ORCHARD_LOG_LEVEL: 'warn', ...this.env };
      const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'services', service, 'main.js')], { env, stdio: ['ignore', 'ignore', 'inherit'] });
      this.children.set(service, child);
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`${service} exited with ${child.exitCode}`);
        try {
          if ((await fetch(`http://127.0.0.1:${this.ports[service]}/health`)).ok) break;
        } catch {
          // not yet listening
        }
        if (Date.now() > deadline) throw new Error(`${service} did not start`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all(
      [...this.children.values()].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
    this.children.clear();
  }
}
