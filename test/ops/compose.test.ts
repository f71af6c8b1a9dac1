import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSettings, type Settings } from '../../libs/config/index.js';
import { ROOT, compiledFromSource, interpolate, promqlProblems, serviceOfCommand, statusOf, unknownVariables, type OrchardService } from './consistency.js';

/** The parts of a compose service these tests read. */
interface ComposeService {
  image?: string;
  build?: string | { context: string };
  command?: string[] | string;
  entrypoint?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  volumes?: string[];
  restart?: string;
  stop_grace_period?: string;
}

interface Compose {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

interface PrometheusConfig {
  rule_files?: string[];
  scrape_configs: Array<{
    job_name: string;
    metrics_path?: string;
    dns_sd_configs?: Array<{ names: string[]; type: string; port: number }>;
    static_configs?: Array<{ targets: string[] }>;
  }>;
}

const SERVICES: OrchardService[] = ['gateway', 'fetcher', 'extractor'];

function portOf(settings: Settings, service: OrchardService): number {
  return { gateway: settings.gatewayPort, fetcher: settings.fetcherPort, extractor: settings.extractorPort }[service];
}

function seconds(duration: string): number {
  const match = /^(\d+)(ms|s|m)$/.exec(duration);
  if (!match) throw new Error(`unsupported duration ${duration}`);
  return Number(match[1]) * { ms: 0.001, s: 1, m: 60 }[match[2] as 'ms' | 's' | 'm'];
}

/** The container path a bind mount of a repository file (`./x:/y[:ro]`) puts it at. */
function bindMounts(service: ComposeService): Map<string, string> {
  const mounts = new Map<string, string>();
  for (const volume of service.volumes ?? []) {
    const [source, target] = volume.split(':');
    if (source!.startsWith('./')) mounts.set(target!, source!);
  }
  return mounts;
}

describe('docker-compose.yml', () => {
  let compose: Compose;
  let env: Record<string, string>;
  let settings: Settings;

  beforeAll(() => {
    // Compose merges `<<:` keys (YAML 1.1 merge); the file relies on them for the shared service block.
    compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as Compose;
    env = Object.fromEntries(Object.entries(compose.services.gateway!.environment ?? {}).map(([k, v]) => [k, interpolate(String(v))]));
    settings = loadSettings(env);
  });

  it('has the whole stack: datastores, the bucket and migration one-shots, three services, Prometheus', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ['extractor', 'fetcher', 'gateway', 'migrate', 'minio', 'minio-bucket', 'postgres', 'prometheus', 'redis', 'redis-cache'].sort(),
    );
  });

  it('runs every Orchard process from one image built by ./Dockerfile, with commands that exist in the build', () => {
    for (const name of [...SERVICES, 'migrate']) {
      const service = compose.services[name]!;
      expect(service.image, name).toBe('orchard:local');
      expect(service.build, name).toBe('.');
      expect(existsSync(path.join(ROOT, 'Dockerfile'))).toBe(true);
      const command = service.command as string[];
      expect(command[0], name).toBe('node');
      expect(compiledFromSource(command[1]!), `${name}: ${command[1]}`).toBe(true);
      if (name !== 'migrate') expect(serviceOfCommand(command)).toBe(name);
    }
    expect(compose.services.migrate!.command).toEqual(['node', 'dist/libs/db/migrate-cli.js']);
  });

  it('gives the services only variables Orchard reads, and values it accepts', () => {
    for (const name of [...SERVICES, 'migrate']) {
      const environment = compose.services[name]!.environment ?? {};
      expect(unknownVariables(Object.keys(environment)), name).toEqual([]);
      // The migration one-shot differs in ORCHARD_MIGRATE alone (see the next test).
      const { ORCHARD_MIGRATE: _own, ...shared } = environment;
      const { ORCHARD_MIGRATE: _gateway, ...gateway } = compose.services.gateway!.environment ?? {};
      expect(shared, `${name} shares one environment`).toEqual(gateway);
    }
    expect(settings.storage.kind).toBe('s3');
    expect(settings.upstreams.map((u) => u.url)).toEqual(['https://pypi.org/simple/']);
  });

  it('runs DDL only in the migration one-shot: the services never migrate (ORCHARD_MIGRATE=off)', () => {
    for (const name of SERVICES) {
      const environment = Object.fromEntries(Object.entries(compose.services[name]!.environment ?? {}).map(([k, v]) => [k, interpolate(String(v))]));
      expect(loadSettings(environment).migrate, name).toBe('off');
    }
    const migrate = compose.services.migrate!;
    expect(migrate.command).toEqual(['node', 'dist/libs/db/migrate-cli.js']);
    expect(migrate.environment?.ORCHARD_MIGRATE ?? 'auto', 'the one-shot does not say it does not migrate').not.toBe('off');
  });

  it('points Orchard at the compose datastores with the credentials they were started with', () => {
    const db = new URL(settings.databaseUrl);
    const postgres = compose.services.postgres!.environment!;
    expect([db.hostname, db.port, db.username, db.password, db.pathname]).toEqual([
      'postgres',
      '5432',
      postgres.POSTGRES_USER,
      postgres.POSTGRES_PASSWORD,
      `/${postgres.POSTGRES_DB}`,
    ]);
    expect(new URL(settings.redisUrl).hostname).toBe('redis');
    expect(compose.services.redis!.command).toEqual(expect.arrayContaining(['--maxmemory-policy', 'noeviction']));
    // The cache lives in a Redis of its own that evicts when full (docs/cache-model.md).
    expect(new URL(settings.cacheRedisUrl).hostname).toBe('redis-cache');
    const cacheCommand = compose.services['redis-cache']!.command as string[];
    expect(cacheCommand).toEqual(expect.arrayContaining(['--maxmemory-policy', 'allkeys-lru']));
    expect(Number.parseInt(cacheCommand[cacheCommand.indexOf('--maxmemory') + 1]!, 10)).toBeGreaterThan(0);

    if (settings.storage.kind !== 's3') throw new Error('expected s3 storage');
    const minio = compose.services.minio!.environment!;
    expect(new URL(settings.storage.endpoint!).host).toBe('minio:9000');
    expect([settings.storage.accessKeyId, settings.storage.secretAccessKey]).toEqual([minio.MINIO_ROOT_USER, minio.MINIO_ROOT_PASSWORD]);
    expect(settings.storage.forcePathStyle).toBe(true);
    // The one-shot bucket job creates exactly the bucket Orchard uses, on that MinIO.
    const script = (compose.services['minio-bucket']!.command as string[]).join(' ');
    const alias = /mc alias set (\S+) (\S+) /.exec(script);
    expect(alias?.[2]).toBe(settings.storage.endpoint);
    expect(script).toMatch(new RegExp(`mc mb --ignore-existing ${alias![1]}/${settings.storage.bucket}(\\s|$)`));
  });

  it('starts things in order: datastores healthy, bucket made and database migrated before the services', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        const target = compose.services[dependency];
        expect(target, `${name} depends on ${dependency}`).toBeDefined();
        if (condition === 'service_healthy') expect(target!.healthcheck, `${dependency} needs a healthcheck`).toBeDefined();
        if (condition === 'service_completed_successfully') expect(target!.restart, `${dependency} is a one-shot`).toBe('no');
      }
    }
    for (const name of SERVICES) {
      expect(compose.services[name]!.depends_on).toEqual({
        migrate: { condition: 'service_completed_successfully' },
        redis: { condition: 'service_healthy' },
        'redis-cache': { condition: 'service_healthy' },
        'minio-bucket': { condition: 'service_completed_successfully' },
      });
    }
    expect(compose.services.migrate!.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
  });

  it('publishes the gateway on 8080 and health-checks every service on its real port and /ready', async () => {
    expect(compose.services.gateway!.ports).toEqual([`8080:${settings.gatewayPort}`]);
    for (const name of SERVICES) {
      const [kind, node, cli, port, probePath] = compose.services[name]!.healthcheck!.test;
      expect([kind, node]).toEqual(['CMD', 'node']);
      expect(compiledFromSource(cli!), cli).toBe(true);
      expect(Number(port), name).toBe(portOf(settings, name));
      expect(await statusOf(name, probePath!), `${name} answers ${probePath}`).toBe(200);
    }
  });

  it('gives the graceful shutdown more time than ORCHARD_SHUTDOWN_TIMEOUT_MS', () => {
    for (const name of SERVICES) {
      expect(seconds(compose.services[name]!.stop_grace_period!) * 1000, name).toBeGreaterThan(settings.shutdownTimeoutMs);
    }
  });

  it('declares every named volume it mounts, and bind-mounts only files that exist', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('./')) expect(existsSync(path.join(ROOT, source)), `${name}: ${source}`).toBe(true);
        else expect(compose.volumes, `${name}: ${source}`).toHaveProperty(source);
      }
    }
  });

  describe('deploy/prometheus.yml', () => {
    let config: PrometheusConfig;
    beforeAll(() => {
      const mounts = bindMounts(compose.services.prometheus!);
      expect(mounts.get('/etc/prometheus/prometheus.yml')).toBe('./deploy/prometheus.yml');
      config = parse(readFileSync(path.join(ROOT, 'deploy', 'prometheus.yml'), 'utf8')) as PrometheusConfig;
    });

    it('scrapes every replica of each Orchard service on its metrics port and path', async () => {
      const scraped = new Map<string, { port: number; path: string }>();
      for (const job of config.scrape_configs) {
        for (const sd of job.dns_sd_configs ?? []) {
          expect(sd.type).toBe('A');
          for (const name of sd.names) scraped.set(name, { port: sd.port, path: job.metrics_path ?? '/metrics' });
        }
      }
      expect([...scraped.keys()].sort()).toEqual([...SERVICES].sort());
      for (const name of SERVICES) {
        const target = scraped.get(name)!;
        expect(compose.services[name], name).toBeDefined();
        expect(target.port, name).toBe(portOf(settings, name));
        expect(await statusOf(name, target.path), `${name} ${target.path}`).toBe(200);
      }
    });

    it('loads alert rules that use only metrics and labels Orchard declares', () => {
      const mounts = bindMounts(compose.services.prometheus!);
      expect(config.rule_files?.length).toBeGreaterThan(0);
      for (const ruleFile of config.rule_files ?? []) {
        const source = mounts.get(ruleFile);
        expect(source, `${ruleFile} is mounted`).toBeDefined();
        const rules = parse(readFileSync(path.join(ROOT, source!), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
        for (const rule of rules.groups.flatMap((g) => g.rules)) expect(promqlProblems(rule.expr), rule.alert).toEqual([]);
      }
    });
  });
});
