import { request, type RequestOptions } from 'node:http';
import { createRequire } from 'node:module';

const DOCKER_SOCKET = '/var/run/docker.sock';

let dockerReachable: Promise<boolean> | undefined;

/**
 * Where the Docker engine listens: `DOCKER_HOST` (`unix:///path` or `tcp://host:port`, as the
 * Docker CLI and testcontainers read it) or the default local socket. TLS engines
 * (`DOCKER_TLS_VERIFY`) are left to testcontainers: they are not pinged here.
 */
export function dockerEndpoint(env: NodeJS.ProcessEnv = process.env): Pick<RequestOptions, 'socketPath' | 'host' | 'port'> | undefined {
  const host = env['DOCKER_HOST'];
  if (!host) return { socketPath: DOCKER_SOCKET };
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  if (host.startsWith('tcp://') && !env['DOCKER_TLS_VERIFY']) {
    const url = new URL(host.replace(/^tcp:/, 'http:'));
    return { host: url.hostname, port: Number(url.port || 2375) };
  }
  return undefined;
}

/** Whether a Docker engine answers `GET /_ping` (asked once per process). */
export function pingDocker(timeoutMs = 1_000): Promise<boolean> {
  dockerReachable ??= new Promise<boolean>((resolve) => {
    const endpoint = dockerEndpoint();
    if (!endpoint) {
      resolve(false);
      return;
    }
    const req = request({ ...endpoint, path: '/_ping', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
  return dockerReachable;
}

/**
 * The one switch between testcontainers and local services. Integration tests run PostgreSQL,
 * Redis and S3 (MinIO) in testcontainers rather than use the local ones when this says so; the
 * tests themselves are the same either way. `ORCHARD_TESTCONTAINERS=1` forces containers and `0`
 * forbids them; otherwise an explicit service URL (the variable named by `explicitUrlEnv`, e.g.
 * `ORCHARD_TEST_DATABASE_URL`, `ORCHARD_TEST_REDIS_URL`) wins, and containers are used only when a
 * Docker engine actually answers.
 */
export async function useContainers(explicitUrlEnv?: string): Promise<boolean> {
  const flag = process.env['ORCHARD_TESTCONTAINERS'];
  if (flag === '0') return false;
  const unsupported = testcontainersUnsupported();
  if (flag === '1') {
    if (unsupported) throw new Error(`ORCHARD_TESTCONTAINERS=1 but ${unsupported}`);
    return true;
  }
  if (explicitUrlEnv !== undefined && process.env[explicitUrlEnv]) return false;
  if (!(await pingDocker())) return false;
  if (unsupported) {
    warnOnce(`a Docker engine answers, but ${unsupported}; using the local services`);
    return false;
  }
  return true;
}

/**
 * Why the installed testcontainers cannot run on this Node.js, or undefined when it can (its
 * `engines.node` of the form `>= X.Y[.Z]` is compared with the running version).
 */
export function testcontainersUnsupported(nodeVersion: string = process.versions.node): string | undefined {
  let pkg: TestcontainersPackage;
  try {
    pkg = createRequire(import.meta.url)('testcontainers/package.json') as TestcontainersPackage;
  } catch {
    return 'testcontainers is not installed';
  }
  return nodeFloorViolation(pkg, nodeVersion);
}

/** What a testcontainers `package.json` says about the Node.js it needs. */
export interface TestcontainersPackage {
  version: string;
  engines?: { node?: string };
}

/** Why a testcontainers package with these `engines` cannot run on `nodeVersion`, or undefined when it can. */
export function nodeFloorViolation(pkg: TestcontainersPackage, nodeVersion: string): string | undefined {
  const wanted = /^>=\s*(\d+(?:\.\d+){0,2})$/.exec(pkg.engines?.node?.trim() ?? '');
  if (!wanted) return undefined;
  const have = nodeVersion.split('.').map(Number);
  const need = wanted[1]!.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const a = have[i] ?? 0;
    const b = need[i] ?? 0;
    if (a !== b) return a > b ? undefined : `testcontainers ${pkg.version} needs Node.js ${pkg.engines!.node} (this is ${nodeVersion})`;
  }
  return undefined;
}

let warned = false;
function warnOnce(message: string): void {
  if (warned) return;
  warned = true;
  process.stderr.write(`test containers: ${message}\n`);
}
