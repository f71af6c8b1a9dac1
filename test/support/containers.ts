import { request } from 'node:http';

const DOCKER_SOCKET = '/var/run/docker.sock';

let dockerReachable: Promise<boolean> | undefined;

/** Whether a Docker engine answers `GET /_ping` on the local socket (asked once per process). */
export function pingDocker(timeoutMs = 1_000): Promise<boolean> {
  dockerReachable ??= new Promise<boolean>((resolve) => {
    const req = request({ socketPath: DOCKER_SOCKET, path: '/_ping', timeout: timeoutMs }, (res) => {
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
 * Whether integration tests should run their services (PostgreSQL, Redis, S3) in testcontainers
 * rather than use the local ones. `ORCHARD_TESTCONTAINERS=1` forces containers and `0` forbids
 * them; otherwise an explicit service URL (the variable named by `explicitUrlEnv`) wins, and
 * containers are used only when a Docker engine actually answers.
 */
export async function useContainers(explicitUrlEnv?: string): Promise<boolean> {
  const flag = process.env['ORCHARD_TESTCONTAINERS'];
  if (flag === '1') return true;
  if (flag === '0') return false;
  if (explicitUrlEnv !== undefined && process.env[explicitUrlEnv]) return false;
  return pingDocker();
}
