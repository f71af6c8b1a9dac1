import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWheel } from '../support/dists.js';
import { OrchardProcesses, freePort } from '../support/orchard.js';
import { FakeUpstream } from '../support/upstream-server.js';

const TOKEN = 'internal-port-token';

describe('ORCHARD_GATEWAY_INTERNAL_PORT: /metrics and the admin API off the public port', () => {
  const upstream = new FakeUpstream();
  let orchard: OrchardProcesses;
  let internal = '';

  beforeAll(async () => {
    const wheel = await buildWheel({ name: 'portcheck', version: '1.0.0' });
    upstream.publish('portcheck', { filename: wheel.filename, bytes: wheel.bytes });
    await upstream.start();
    const port = await freePort();
    internal = `http://127.0.0.1:${port}`;
    orchard = await OrchardProcesses.start({
      upstreams: `local=${upstream.url}`,
      services: ['gateway'],
      env: { ORCHARD_GATEWAY_INTERNAL_PORT: String(port), ORCHARD_ADMIN_TOKEN: TOKEN },
    });
  });

  afterAll(async () => {
    await orchard?.stop();
    await upstream.stop();
  });

  const admin = { authorization: `Bearer ${TOKEN}` };

  it('serves the index, the JSON API and the probes on the public port, and 404 for /metrics and admin', async () => {
    expect((await fetch(`${orchard.gatewayUrl}/simple/portcheck/`)).status).toBe(200);
    expect((await fetch(`${orchard.gatewayUrl}/health`)).status).toBe(200);
    expect((await fetch(`${orchard.gatewayUrl}/api/v1/projects/portcheck/dependents`)).status).toBe(200);
    const metrics = await fetch(`${orchard.gatewayUrl}/metrics`);
    expect(metrics.status).toBe(404);
    expect(await metrics.text()).not.toContain('orchard_');
    expect((await fetch(`${orchard.gatewayUrl}/api/v1/admin/upstreams`, { headers: admin })).status).toBe(404);
  });

  it('serves /metrics, the admin API and the probes on the internal port, and nothing else', async () => {
    const metrics = await fetch(`${internal}/metrics`);
    expect(metrics.status).toBe(200);
    // The public port's requests are counted: one process, one registry.
    expect(await metrics.text()).toMatch(/orchard_http_requests_total\{[^}]*route="simple_project"/);
    const upstreams = await fetch(`${internal}/api/v1/admin/upstreams`, { headers: admin });
    expect(upstreams.status).toBe(200);
    expect(JSON.stringify(await upstreams.json())).toContain('"local"');
    expect((await fetch(`${internal}/api/v1/admin/upstreams`)).status).toBe(401);
    expect((await fetch(`${internal}/ready`)).status).toBe(200);
    expect((await fetch(`${internal}/simple/portcheck/`)).status).toBe(404);
    expect((await fetch(`${internal}/api/v1/projects/portcheck/dependents`)).status).toBe(404);
  });

  it('closes both ports on SIGTERM and exits 0', async () => {
    expect(await orchard.stopService('gateway')).toBe(0);
    await expect(fetch(`${internal}/health`)).rejects.toThrow();
    await expect(fetch(`${orchard.gatewayUrl}/health`)).rejects.toThrow();
  });
});
