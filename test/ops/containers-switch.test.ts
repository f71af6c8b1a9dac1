import { afterEach, describe, expect, it } from 'vitest';
import { dockerEndpoint, nodeFloorViolation, testcontainersUnsupported, useContainers } from '../support/containers.js';

describe('the testcontainers switch', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const key of ['ORCHARD_TESTCONTAINERS', 'ORCHARD_TEST_REDIS_URL']) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  });

  it('finds the Docker engine where the Docker CLI would', () => {
    expect(dockerEndpoint({})).toEqual({ socketPath: '/var/run/docker.sock' });
    expect(dockerEndpoint({ DOCKER_HOST: 'unix:///run/user/1000/docker.sock' })).toEqual({ socketPath: '/run/user/1000/docker.sock' });
    expect(dockerEndpoint({ DOCKER_HOST: 'tcp://10.0.0.5:2375' })).toEqual({ host: '10.0.0.5', port: 2375 });
    expect(dockerEndpoint({ DOCKER_HOST: 'tcp://10.0.0.5:2376', DOCKER_TLS_VERIFY: '1' })).toBeUndefined();
  });

  it('obeys ORCHARD_TESTCONTAINERS=0 and an explicit service URL', async () => {
    process.env.ORCHARD_TESTCONTAINERS = '0';
    expect(await useContainers()).toBe(false);
    delete process.env.ORCHARD_TESTCONTAINERS;
    process.env.ORCHARD_TEST_REDIS_URL = 'redis://127.0.0.1:6379/0';
    expect(await useContainers('ORCHARD_TEST_REDIS_URL')).toBe(false);
  });

  it('knows whether a testcontainers release runs on a Node.js version', () => {
    // testcontainers 12 needs Node 22.22; 11.x declares no floor and runs on Node 20.
    const twelve = { version: '12.0.0', engines: { node: '>= 22.22' } };
    expect(nodeFloorViolation(twelve, '20.19.0')).toBe('testcontainers 12.0.0 needs Node.js >= 22.22 (this is 20.19.0)');
    expect(nodeFloorViolation(twelve, '22.21.9')).toMatch(/needs Node\.js >= 22\.22/);
    expect(nodeFloorViolation(twelve, '22.22.0')).toBeUndefined();
    expect(nodeFloorViolation(twelve, '24.0.0')).toBeUndefined();
    expect(nodeFloorViolation({ version: '11.9.0' }, '20.19.0')).toBeUndefined();
    // The pinned release runs on the Node.js these tests run on.
    expect(testcontainersUnsupported()).toBeUndefined();
  });

  it('refuses to force containers it cannot run, with the reason', async () => {
    process.env.ORCHARD_TESTCONTAINERS = '1';
    const reason = testcontainersUnsupported();
    if (reason) await expect(useContainers()).rejects.toThrow(reason);
    else expect(await useContainers()).toBe(true);
  });
});
