import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments, parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSettings, type Settings } from '../../libs/config/index.js';
import { ROOT, compiledFromSource, orchardSeriesIn, promqlProblems, serviceOfCommand, statusOf, unknownVariables, type OrchardService } from './consistency.js';

type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
};

const K8S = path.join(ROOT, 'k8s');
/** Which queue each worker consumes (what its autoscaler must watch). */
const QUEUE_OF: Record<string, string> = { fetcher: 'fetch', extractor: 'extract' };

interface Probe {
  httpGet: { path: string; port: string | number };
}

function matches(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

describe('k8s/ (kustomize base)', () => {
  let kustomization: any;
  let manifests: Manifest[];
  let settings: Settings;
  const byKind = (kind: string) => manifests.filter((m) => m.kind === kind);
  const named = (kind: string, name: string) => manifests.find((m) => m.kind === kind && m.metadata.name === name);

  beforeAll(() => {
    kustomization = parse(readFileSync(path.join(K8S, 'kustomization.yaml'), 'utf8'));
    manifests = (kustomization.resources as string[]).flatMap((file) =>
      parseAllDocuments(readFileSync(path.join(K8S, file), 'utf8')).map((doc) => {
        if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
        return doc.toJS() as Manifest;
      }),
    );
    const config = named('ConfigMap', 'orchard-config')!;
    const secret = named('Secret', 'orchard-secrets')!;
    settings = loadSettings({ ...config.data, ...secret.stringData });
  });

  it('lists every manifest file in kustomization.yaml, and a namespace for them all', () => {
    const files = readdirSync(K8S).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(files.sort());
    expect(kustomization.kind).toBe('Kustomization');
    expect(byKind('Namespace').map((n) => n.metadata.name)).toEqual([kustomization.namespace]);
    for (const m of manifests) expect(m.metadata.name, m.kind).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });

  it('has the expected objects', () => {
    const inventory = manifests.map((m) => `${m.kind}/${m.metadata.name}`).sort();
    expect(inventory).toEqual(
      [
        'Namespace/orchard',
        'ConfigMap/orchard-config',
        'Secret/orchard-secrets',
        'Job/orchard-migrate',
        ...['gateway', 'fetcher', 'extractor'].flatMap((s) => [`Deployment/orchard-${s}`, `Service/orchard-${s}`, `PodDisruptionBudget/orchard-${s}`]),
        'HorizontalPodAutoscaler/orchard-gateway',
        'ScaledObject/orchard-fetcher',
        'ScaledObject/orchard-extractor',
      ].sort(),
    );
  });

  it('configures only variables Orchard reads, with values it accepts (the Secret is a template)', () => {
    const config = named('ConfigMap', 'orchard-config')!;
    const secret = named('Secret', 'orchard-secrets')!;
    expect(unknownVariables([...Object.keys(config.data ?? {}), ...Object.keys(secret.stringData ?? {})])).toEqual([]);
    for (const [key, value] of Object.entries(secret.stringData ?? {})) {
      if (value !== '') expect(value, key).toMatch(/CHANGE-ME/);
    }
    expect(settings.storage.kind).toBe('s3');
    // The queues and the cache in two Redis servers (noeviction vs. allkeys-lru; docs/cache-model.md).
    expect(new URL(settings.cacheRedisUrl).host).not.toBe(new URL(settings.redisUrl).host);
    for (const deployment of byKind('Deployment')) {
      for (const container of deployment.spec.template.spec.containers) {
        expect(unknownVariables((container.env ?? []).map((e: { name: string }) => e.name)), deployment.metadata.name).toEqual([]);
      }
    }
  });

  it('runs each service from the kustomize image with a command that exists, its config, and bounded resources', () => {
    const images = new Set((kustomization.images as Array<{ name: string }>).map((i) => i.name));
    for (const workload of [...byKind('Deployment'), ...byKind('Job')]) {
      const pod = workload.spec.template.spec;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
      for (const container of pod.containers) {
        const where = `${workload.metadata.name}/${container.name}`;
        expect(images.has(container.image), where).toBe(true);
        expect(container.command[0], where).toBe('node');
        expect(compiledFromSource(container.command[1]), `${where}: ${container.command[1]}`).toBe(true);
        const refs = (container.envFrom ?? []).map((e: any) => (e.configMapRef ? `ConfigMap/${e.configMapRef.name}` : `Secret/${e.secretRef.name}`));
        expect(refs.sort(), where).toEqual(['ConfigMap/orchard-config', 'Secret/orchard-secrets']);
        for (const kind of ['requests', 'limits']) expect(Object.keys(container.resources?.[kind] ?? {}).sort(), `${where} ${kind}`).toEqual(['cpu', 'memory']);
        expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
      }
    }
    expect(named('Job', 'orchard-migrate')!.spec.template.spec.containers[0].command).toEqual(['node', 'dist/libs/db/migrate-cli.js']);
  });

  it('runs DDL only in the migration Job: every service has ORCHARD_MIGRATE=off, the Job does not', () => {
    const config = named('ConfigMap', 'orchard-config')!;
    const secret = named('Secret', 'orchard-secrets')!;
    // A container's environment: its envFrom sources, then its own `env` entries on top.
    const environment = (container: { env?: Array<{ name: string; value?: string }> }) => ({
      ...config.data,
      ...secret.stringData,
      ...Object.fromEntries((container.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!])),
    });
    for (const deployment of byKind('Deployment')) {
      for (const container of deployment.spec.template.spec.containers) {
        expect(loadSettings(environment(container)).migrate, deployment.metadata.name).toBe('off');
      }
    }
    const [job] = named('Job', 'orchard-migrate')!.spec.template.spec.containers;
    expect(job.command).toEqual(['node', 'dist/libs/db/migrate-cli.js']);
    expect(loadSettings(environment(job)).migrate, 'the Job does not say it does not migrate').toBe('auto');
  });

  describe.each(['gateway', 'fetcher', 'extractor'] as OrchardService[])('the %s Deployment', (service) => {
    let deployment: Manifest;
    let container: any;
    let port: number;
    beforeAll(() => {
      deployment = named('Deployment', `orchard-${service}`)!;
      container = deployment.spec.template.spec.containers[0];
      port = { gateway: settings.gatewayPort, fetcher: settings.fetcherPort, extractor: settings.extractorPort }[service];
    });

    const portNumber = (ref: string | number): number => (typeof ref === 'number' ? ref : container.ports.find((p: { name: string }) => p.name === ref)?.containerPort);

    it('runs that service, listening where the configuration says', () => {
      expect(serviceOfCommand(container.command)).toBe(service);
      expect(container.ports.map((p: { containerPort: number }) => p.containerPort)).toEqual([port]);
      expect(matches(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels)).toBe(true);
    });

    it('probes real routes on the real port: liveness /health, readiness as documented', async () => {
      const probes: Record<string, Probe | undefined> = {
        liveness: container.livenessProbe,
        readiness: container.readinessProbe,
        startup: container.startupProbe,
      };
      expect(probes.liveness?.httpGet.path).toBe('/health');
      expect(probes.readiness).toBeDefined();
      // Workers are unready without their dependencies; the gateway degrades instead (see gateway.yaml).
      expect(probes.readiness!.httpGet.path).toBe(service === 'gateway' ? '/health' : '/ready');
      for (const [kind, probe] of Object.entries(probes)) {
        if (!probe) continue;
        expect(portNumber(probe.httpGet.port), `${kind} probe port`).toBe(port);
        expect(await statusOf(service, probe.httpGet.path), `${kind} probe ${probe.httpGet.path}`).toBe(200);
      }
    });

    it('is scraped by Prometheus through its annotations', async () => {
      const annotations = deployment.spec.template.metadata.annotations;
      expect(annotations['prometheus.io/scrape']).toBe('true');
      expect(Number(annotations['prometheus.io/port'])).toBe(port);
      expect(await statusOf(service, annotations['prometheus.io/path'])).toBe(200);
    });

    it('gives the graceful shutdown longer than ORCHARD_SHUTDOWN_TIMEOUT_MS (after any preStop pause)', () => {
      const preStop = container.lifecycle?.preStop?.exec?.command as string[] | undefined;
      const pause = preStop?.[0] === 'sleep' ? Number(preStop[1]) : 0;
      expect(deployment.spec.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(settings.shutdownTimeoutMs + pause * 1000);
    });

    it('has a Service selecting its pods on a port they expose, and a PodDisruptionBudget', () => {
      const svc = named('Service', `orchard-${service}`)!;
      const labels = deployment.spec.template.metadata.labels;
      expect(matches(svc.spec.selector, labels)).toBe(true);
      expect(byKind('Deployment').filter((d) => matches(svc.spec.selector, d.spec.template.metadata.labels))).toHaveLength(1);
      for (const p of svc.spec.ports) expect(portNumber(p.targetPort)).toBe(port);
      const pdb = named('PodDisruptionBudget', `orchard-${service}`)!;
      expect(matches(pdb.spec.selector.matchLabels, labels)).toBe(true);
    });

    it("is autoscaled: the gateway on CPU, a worker on its queue's depth", () => {
      const hpa = named('HorizontalPodAutoscaler', `orchard-${service}`);
      const scaled = named('ScaledObject', `orchard-${service}`);
      expect(deployment.spec.replicas, 'the autoscaler owns the replica count').toBeUndefined();
      if (service === 'gateway') {
        expect(hpa!.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
        expect(hpa!.spec.minReplicas).toBeGreaterThanOrEqual(2);
        expect(scaled).toBeUndefined();
        return;
      }
      expect(hpa).toBeUndefined();
      expect(scaled!.apiVersion).toBe('keda.sh/v1alpha1');
      expect(scaled!.spec.scaleTargetRef.name).toBe(deployment.metadata.name);
      const [trigger] = scaled!.spec.triggers;
      expect(trigger.type).toBe('prometheus');
      expect(Number(trigger.metadata.threshold)).toBeGreaterThan(0);
      expect(promqlProblems(trigger.metadata.query)).toEqual([]);
      const [series] = orchardSeriesIn(trigger.metadata.query);
      expect(series).toEqual({
        metric: 'orchard_queue_jobs',
        matchers: [
          { label: 'queue', op: '=', value: QUEUE_OF[service] },
          { label: 'state', op: '=', value: 'waiting' },
        ],
      });
    });
  });
});
