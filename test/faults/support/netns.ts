/**
 * Several "hosts" on one machine: a Linux network namespace per host, each with a veth pair into a
 * bridge of the root namespace that has an address of its own (the root namespace is the
 * infrastructure host: PostgreSQL, Redis, S3 and the upstream are reached at the bridge address).
 * A namespace's loopback is its own, so a service in one reaches the others only over the bridge.
 *
 * Needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN) and the `ip` command. Every name carries the
 * creating process's pid, so a network left behind by a process that is gone (a crashed run) is
 * recognised and removed by {@link removeLeftoverNetworks}, while a concurrent run's is left alone.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Prefixes of everything created here: namespaces `orchard-<pid36>-<n>-<host>`, links `orb-…`/`orv-…`. */
const NETNS_NAME = /^orchard-([0-9a-z]+)-\d+-[a-z0-9-]+$/;
const LINK_NAME = /^or[bv]-([0-9a-z]+)-[0-9a-z]+$/;

let networksCreated = 0;

async function ip(args: string[]): Promise<string> {
  try {
    return (await run('ip', args, { timeout: 15_000 })).stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`ip ${args.join(' ')} failed: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes namespaces and links made by a process that no longer exists (a run that crashed or was
 * killed before its cleanup). Deleting a namespace also deletes its end of the veth pair, and with
 * it the other end.
 */
export async function removeLeftoverNetworks(): Promise<string[]> {
  const removed: string[] = [];
  const gone = (pid36: string | undefined) => pid36 !== undefined && !alive(Number.parseInt(pid36, 36));
  for (const line of (await ip(['netns', 'list'])).split('\n')) {
    const name = line.trim().split(/\s+/)[0] ?? '';
    if (gone(NETNS_NAME.exec(name)?.[1])) {
      // Another run may have removed it meanwhile: say so, go on.
      await ip(['netns', 'delete', name]).then(
        () => removed.push(name),
        (err: unknown) => console.warn(`leftover namespace ${name} not removed: ${(err as Error).message}`),
      );
    }
  }
  for (const line of (await ip(['-o', 'link', 'show'])).split('\n')) {
    const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1] ?? '';
    if (gone(LINK_NAME.exec(name)?.[1])) {
      await ip(['link', 'delete', name]).then(
        () => removed.push(name),
        (err: unknown) => console.warn(`leftover link ${name} not removed: ${(err as Error).message}`),
      );
    }
  }
  return removed;
}

/** One host: a namespace and its address on the bridge. */
export interface NetHost {
  /** The name the test gave it (`gateway-a`). */
  name: string;
  /** The network namespace (`ip netns exec <ns> …`). */
  ns: string;
  address: string;
}

/** A bridge in the root namespace and one namespace per host, on a /24 of their own. */
export class TestNetwork {
  private readonly hosts = new Map<string, NetHost>();
  private destroyed?: Promise<void>;

  private constructor(
    readonly bridge: string,
    /** The root namespace's address on the bridge: where the hosts reach the infrastructure. */
    readonly bridgeAddress: string,
    private readonly subnet: string,
  ) {}

  /**
   * Creates the bridge and one namespace per host name (addresses `.11`, `.12`, … in order). Fails
   * with a message saying what is missing when network namespaces cannot be made here.
   */
  static async create(hostNames: string[]): Promise<TestNetwork> {
    const id = `${process.pid.toString(36)}-${networksCreated++}`;
    const subnet = await freeSubnet();
    const network = new TestNetwork(`orb-${id}`, `${subnet}.1`, subnet);
    try {
      await ip(['link', 'add', network.bridge, 'type', 'bridge']);
      await ip(['addr', 'add', `${network.bridgeAddress}/24`, 'dev', network.bridge]);
      await ip(['link', 'set', network.bridge, 'up']);
      for (const [index, name] of hostNames.entries()) {
        const host: NetHost = { name, ns: `orchard-${id}-${name}`, address: `${subnet}.${11 + index}` };
        const veth = `orv-${id}${index.toString(36)}`;
        await ip(['netns', 'add', host.ns]);
        network.hosts.set(name, host);
        // The namespace's end is named eth0 inside it: every host looks the same from within.
        await ip(['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.ns]);
        await ip(['link', 'set', veth, 'master', network.bridge]);
        await ip(['link', 'set', veth, 'up']);
        await ip(['-n', host.ns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
        await ip(['-n', host.ns, 'link', 'set', 'eth0', 'up']);
        await ip(['-n', host.ns, 'link', 'set', 'lo', 'up']);
      }
    } catch (err) {
      await network.destroy();
      throw new Error(
        `could not build the test network: it needs Linux network namespaces, veth pairs and a bridge (root, or CAP_NET_ADMIN and CAP_SYS_ADMIN, and iproute2's ip): ${(err as Error).message}`,
      );
    }
    return network;
  }

  host(name: string): NetHost {
    const host = this.hosts.get(name);
    if (!host) throw new Error(`no host ${name} in this network (${[...this.hosts.keys()].join(', ')})`);
    return host;
  }

  /** Every host's address, by host name. */
  addresses(): Record<string, string> {
    return Object.fromEntries([...this.hosts.values()].map((h) => [h.name, h.address]));
  }

  /**
   * Starts a command inside a host's namespace (`ip netns exec` replaces itself with the command, so
   * the child's pid is the command's and a signal reaches it directly).
   */
  spawn(hostName: string, command: string, args: string[], options: { env: NodeJS.ProcessEnv; cwd: string }): HostProcess {
    const child = spawn('ip', ['netns', 'exec', this.host(hostName).ns, command, ...args], { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    return new HostProcess(this.host(hostName), child);
  }

  /** Deletes every namespace and the bridge (the veth pairs go with them); idempotent. Stop the processes first. */
  destroy(): Promise<void> {
    this.destroyed ??= (async () => {
      // Every deletion is tried; what could not be deleted fails the cleanup, naming it.
      const results = await Promise.allSettled([...[...this.hosts.values()].map((host) => ip(['netns', 'delete', host.ns])), ip(['link', 'delete', this.bridge])]);
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => (r.reason as Error).message);
      if (failed.length > 0) throw new Error(`test network not fully removed:\n${failed.join('\n')}`);
    })();
    return this.destroyed;
  }

  toString(): string {
    return `${this.bridge} ${this.subnet}.0/24: ${[...this.hosts.values()].map((h) => `${h.name}=${h.address}`).join(' ')}`;
  }
}

/** A 10.231.x.0/24 no interface of the root namespace uses yet, starting from one derived from the pid. */
async function freeSubnet(): Promise<string> {
  const used = await ip(['-4', '-o', 'addr', 'show']);
  for (let i = 0; i < 256; i++) {
    const subnet = `10.231.${(process.pid + i) % 256}`;
    if (!used.includes(` ${subnet}.`)) return subnet;
  }
  throw new Error('no free /24 left in 10.231.0.0/16 for a test network');
}

/** A process running on one host of a {@link TestNetwork}, with its output collected. */
export class HostProcess {
  log = '';
  /** Resolves with the exit code (null when a signal ended it) once its output is closed. */
  readonly exited: Promise<number | null>;

  constructor(
    readonly host: NetHost,
    readonly child: ChildProcess,
  ) {
    child.stdout!.on('data', (d: Buffer) => (this.log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    // 'close', not 'exit': the last lines may still be in the pipes at 'exit'.
    this.exited = new Promise((resolve) => child.once('close', (code) => resolve(code)));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Polls `url` until it answers 200; fails with the log if the process exits or time runs out. */
  async waitForOk(url: string, timeoutMs = 90_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`${this.host.name} exited (${this.child.exitCode ?? this.child.signalCode}) before ${url} answered:\n${this.log}`);
      const ok = await fetch(url, { signal: AbortSignal.timeout(2_000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`${url} on ${this.host.name} did not answer 200 within ${timeoutMs} ms:\n${this.log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Sends a signal (SIGSTOP/SIGCONT pause and resume it); false when it had already exited. */
  signal(signal: NodeJS.Signals): boolean {
    return this.running && this.child.kill(signal);
  }

  /** SIGKILL, then waits for it to be gone. */
  async kill(): Promise<number | null> {
    this.signal('SIGKILL');
    return this.exited;
  }

  /** SIGTERM (resuming it first, in case it was paused), then SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (!this.running) return;
    this.signal('SIGCONT');
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
