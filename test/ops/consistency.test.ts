import { describe, expect, it } from 'vitest';
import { compiledFromSource, interpolate, promqlProblems, settingNames, statusOf, unknownVariables } from './consistency.js';

/** The checks the compose and k8s tests rely on must fail on the mistakes they exist to catch. */
describe('the deployment consistency checks', () => {
  it('read the settings schema from the code', () => {
    const names = settingNames();
    for (const name of ['ORCHARD_PORT', 'DATABASE_URL', 'REDIS_URL', 'S3_BUCKET', 'ORCHARD_SHUTDOWN_TIMEOUT_MS']) expect(names).toContain(name);
  });

  it("flag variables Orchard does not read, and accept per-upstream ones and other programs'", () => {
    expect(
      unknownVariables(['ORCHARD_PORT', 'ORCHARD_PROT', 'S3_BUKET', 'REDIS_URI', 'POSTGRES_USER', 'ORCHARD_UPSTREAM_CORP_TOKEN', 'ORCHARD_UPSTREAM_CORP_CREDENTIAL_ORIGINS']),
    ).toEqual(['ORCHARD_PROT', 'S3_BUKET']);
  });

  it('flag unknown metrics, labels, queues and states in PromQL', () => {
    expect(promqlProblems('max(orchard_queue_jobs{queue="fetch",state="waiting"})')).toEqual([]);
    expect(promqlProblems('histogram_quantile(0.9, rate(orchard_http_request_duration_seconds_bucket{route="file"}[5m]))')).toEqual([]);
    expect(promqlProblems('max(orchard_queue_depth{queue="fetch"})')).toEqual(['orchard_queue_depth is not declared in libs/metrics/registry.ts']);
    expect(promqlProblems('max(orchard_queue_jobs{queue="fetches",state="pending",project="x"})')).toEqual([
      'no queue is named fetches',
      'orchard_queue_jobs reports no state pending',
      'orchard_queue_jobs has no label project',
    ]);
    expect(promqlProblems('up')).toEqual(['no orchard_ metric in up']);
  });

  it('tell real routes from missing ones, per service', async () => {
    expect(await statusOf('gateway', '/ready')).toBe(200);
    expect(await statusOf('gateway', '/healthz')).toBe(404);
    expect(await statusOf('fetcher', '/metrics')).toBe(200);
    expect(await statusOf('extractor', '/readyz')).toBe(404);
  });

  it('map compiled paths to sources, and interpolate like compose', () => {
    expect(compiledFromSource('dist/services/gateway/main.js')).toBe(true);
    expect(compiledFromSource('dist/services/gateway/mian.js')).toBe(false);
    expect(compiledFromSource('services/gateway/main.ts')).toBe(false);
    expect(interpolate('${A:-x} ${B:-y} ${C} $$HOME', { A: 'a' })).toBe('a y  $HOME');
  });
});
