import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments, parse, stringify } from 'yaml';
import { QueueKeys } from 'bullmq';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { loadSettings, type Settings } from '../../libs/config/index.js';
import { REEXTRACT_PRIORITY } from '../../services/extractor/reextract-all.js';
import { ROOT, compiledFromSource, serviceOfCommand, statusOf, unknownVariables, type OrchardService } from './consistency.js';

type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  automountServiceAccountToken?: boolean;
};

const K8S = path.join(ROOT, 'k8s');
const OVERLAYS = ['dev', 'prod'] as const;
type Overlay = (typeof OVERLAYS)[number];
/** Which queue each worker consumes (what its autoscaler must watch). */
const QUEUE_OF: Record<string, string> = { fetcher: 'fetch', extractor: 'extract' };
/** The namespace label and pod label the NetworkPolicies admit to the ops and internal ports. */
const MONITORING_NAMESPACE = { 'orchard.dev/monitoring': 'true' };
const ADMIN_POD = { 'orchard.dev/admin': 'true' };

/**
 * Each kind the overlays may render, with the model that validates it against its OpenAPI schema
 * (kubernetes-models for Kubernetes' own kinds, @kubernetes-models/keda for KEDA's CRDs). A kind not
 * listed here fails the schema test: add its model rather than let it through unchecked.
 */
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'networking.k8s.io/v1/Ingress': Ingress,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
  'keda.sh/v1alpha1/TriggerAuthentication': TriggerAuthentication,
};

/**
 * Renders a kustomization the way `kubectl apply -k` does. There is no kustomize for Node, so this
 * needs `kubectl` (1.27 or later: `labels`, `replacements`) or a `kustomize` binary; without either
 * it throws, and every test of this file fails rather than skips.
 */
function render(dir: string): Manifest[] {
  const attempts: Array<[string, string[]]> = [
    ['kubectl', ['kustomize', dir]],
    ['kustomize', ['build', dir]],
  ];
  const failures: string[] = [];
  for (const [command, args] of attempts) {
    let output: string;
    try {
      output = execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    } catch (err) {
      const error = err as NodeJS.ErrnoException & { stderr?: string };
      failures.push(`${command} ${args.join(' ')}: ${error.code === 'ENOENT' ? 'not installed' : (error.stderr ?? error.message).trim()}`);
      // A kustomization kubectl refuses is an error in the manifests, not a missing tool.
      if (error.code !== 'ENOENT') break;
      continue;
    }
    return parseAllDocuments(output).map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${dir}: ${doc.errors[0]!.message}`);
      return doc.toJS() as Manifest;
    });
  }
  throw new Error(`cannot render ${path.relative(ROOT, dir)}: ${failures.join('; ')}`);
}

function matches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

/** A LabelSelector with matchLabels only (what the manifests use); matchExpressions would need more. */
function selects(selector: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] } | undefined, labels: Record<string, string>): boolean {
  if (selector?.matchExpressions?.length) throw new Error('matchExpressions: extend selects() in k8s.test.ts');
  return matches(selector?.matchLabels, labels);
}

/** One end of a connection, for the NetworkPolicy evaluation below. */
type Peer = { external: true } | { namespace: string; namespaceLabels: Record<string, string>; podLabels: Record<string, string> };
type Port = { port: number; protocol?: 'TCP' | 'UDP'; name?: string };

/** Whether a NetworkPolicy peer (`from`/`to` item) admits `peer`; `own` is the policy's namespace. */
function peerMatches(rulePeer: any, peer: Peer, own: string): boolean {
  if (rulePeer.ipBlock) return 'external' in peer && rulePeer.ipBlock.cidr.endsWith('/0') && !rulePeer.ipBlock.except?.length;
  if ('external' in peer) return false;
  const namespaceOk = rulePeer.namespaceSelector ? selects(rulePeer.namespaceSelector, peer.namespaceLabels) : peer.namespace === own;
  const podOk = rulePeer.podSelector ? selects(rulePeer.podSelector, peer.podLabels) : true;
  return namespaceOk && podOk;
}

function portMatches(rulePorts: any[] | undefined, port: Port): boolean {
  if (!rulePorts || rulePorts.length === 0) return true;
  return rulePorts.some(
    (p) => (p.protocol ?? 'TCP') === (port.protocol ?? 'TCP') && (p.port === undefined || p.port === port.port || (port.name !== undefined && p.port === port.name)),
  );
}

/**
 * Whether the namespace's NetworkPolicies let traffic into a pod (`direction: 'ingress'`, `peer` is
 * the client) or out of it (`'egress'`, `peer` is the destination) on `port`: the Kubernetes rules —
 * a pod no policy of that type selects is open; otherwise some selecting policy must have a matching
 * rule.
 */
function allowed(policies: Manifest[], direction: 'ingress' | 'egress', podLabels: Record<string, string>, port: Port, peer: Peer): boolean {
  const type = direction === 'ingress' ? 'Ingress' : 'Egress';
  const selecting = policies.filter((p) => selects(p.spec.podSelector, podLabels) && (p.spec.policyTypes ?? ['Ingress']).includes(type));
  if (selecting.length === 0) return true;
  return selecting.some((p) =>
    (p.spec[direction] ?? []).some((rule: any) => {
      const peers = direction === 'ingress' ? rule.from : rule.to;
      return portMatches(rule.ports, port) && (!peers || peers.length === 0 || peers.some((rp: any) => peerMatches(rp, peer, p.metadata.namespace!)));
    }),
  );
}

/** The overlay's `images` entry and its `replacements`, as `kustomize edit set image` leaves them. */
function overlayKustomization(overlay: Overlay): any {
  return parse(readFileSync(path.join(K8S, 'overlays', overlay, 'kustomization.yaml'), 'utf8'));
}

describe('the schema check', () => {
  it('refuses objects a cluster would refuse: wrong types, missing required fields, bad enums', () => {
    const deployment = (spec: unknown) => new Deployment({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec } as any);
    const container = { name: 'c', image: 'i' };
    const template = { metadata: { labels: { a: 'b' } }, spec: { containers: [container] } };
    expect(() => deployment({ selector: { matchLabels: { a: 'b' } }, template }).validate()).not.toThrow();
    expect(() => deployment({ replicas: 'two', selector: { matchLabels: { a: 'b' } }, template }).validate()).toThrow();
    expect(() => deployment({ template }).validate()).toThrow();
    const scaled = (trigger: unknown) =>
      new ScaledObject({
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { name: 'x' },
        spec: { scaleTargetRef: { name: 'x' }, minReplicaCount: 1, triggers: [trigger] },
      } as any);
    expect(() => scaled({ type: 'redis', metadata: { listName: 'l' } }).validate()).not.toThrow();
    expect(() => scaled({ metadata: { listName: 'l' } }).validate()).toThrow();
    const policy = (policyTypes: unknown) =>
      new NetworkPolicy({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'x' }, spec: { podSelector: {}, policyTypes } } as any);
    expect(() => policy(['Ingress']).validate()).not.toThrow();
    expect(() => policy('Ingress').validate()).toThrow();
  });
});

describe('k8s/base: what every overlay shares', () => {
  it('renders, with no Secret (the overlays provide orchard-secrets) and no image tag', () => {
    const base = render(path.join(K8S, 'base'));
    expect(base.filter((m) => m.kind === 'Secret')).toEqual([]);
    expect(parse(readFileSync(path.join(K8S, 'base', 'kustomization.yaml'), 'utf8')).images).toBeUndefined();
  });

  it('lists every manifest file of each kustomization in its resources', () => {
    for (const dir of ['base', ...OVERLAYS.map((o) => `overlays/${o}`)]) {
      const kustomization = parse(readFileSync(path.join(K8S, dir, 'kustomization.yaml'), 'utf8'));
      expect(kustomization.kind, dir).toBe('Kustomization');
      const files = readdirSync(path.join(K8S, dir)).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
      const local = (kustomization.resources as string[]).filter((r) => !r.startsWith('..'));
      expect(local.sort(), dir).toEqual(files.sort());
    }
    expect(readdirSync(path.join(K8S, 'overlays')).sort()).toEqual([...OVERLAYS].sort());
  });
});

describe.each(OVERLAYS)('k8s/overlays/%s', (overlay) => {
  let manifests: Manifest[];
  let settings: Settings;
  let config: Manifest;
  /** The dev overlay's Secret template: the keys the prod Secret must have too. */
  let secretTemplate: Record<string, string>;
  let internalPort: number;
  const byKind = (kind: string) => manifests.filter((m) => m.kind === kind);
  const named = (kind: string, name: string) => manifests.find((m) => m.kind === kind && m.metadata.name === name);
  const migrateJob = () => {
    const jobs = byKind('Job');
    expect(jobs).toHaveLength(1);
    return jobs[0]!;
  };
  const podTemplates = () => [...byKind('Deployment'), ...byKind('Job')].map((w) => ({ name: w.metadata.name, template: w.spec.template }));

  beforeAll(() => {
    manifests = render(path.join(K8S, 'overlays', overlay));
    config = named('ConfigMap', 'orchard-config')!;
    const template = parseAllDocuments(readFileSync(path.join(K8S, 'overlays', 'dev', 'secret.yaml'), 'utf8'))[0]!.toJS() as Manifest;
    secretTemplate = template.stringData!;
    settings = loadSettings({ ...config.data, ...secretTemplate });
    // Set, so /metrics and /admin live on the internal port only (the public port answers 404 there).
    if (settings.gatewayInternalPort === undefined) throw new Error('orchard-config must set ORCHARD_GATEWAY_INTERNAL_PORT');
    internalPort = settings.gatewayInternalPort;
  });

  it('renders only objects that are valid against their Kubernetes (or KEDA CRD) schema', () => {
    const problems: string[] = [];
    for (const m of manifests) {
      const where = `${m.kind}/${m.metadata?.name}`;
      const Model = MODELS[`${m.apiVersion}/${m.kind}`];
      if (!Model) {
        problems.push(`${where}: no schema for ${m.apiVersion} ${m.kind}`);
        continue;
      }
      try {
        new Model(m).validate();
      } catch (err) {
        problems.push(`${where}: ${(err as Error).message}`);
      }
      expect(m.metadata.name, where).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
      if (m.kind !== 'Namespace') expect(m.metadata.namespace, where).toBe('orchard');
    }
    expect(problems).toEqual([]);
  });

  it('has the expected objects', () => {
    const inventory = manifests.map((m) => `${m.kind}/${m.kind === 'Job' ? 'orchard-migrate-<tag>' : m.metadata.name}`).sort();
    const services = ['gateway', 'fetcher', 'extractor'];
    expect(inventory).toEqual(
      [
        'Namespace/orchard',
        'ConfigMap/orchard-config',
        ...(overlay === 'dev' ? ['Secret/orchard-secrets'] : ['Ingress/orchard-gateway']),
        'Job/orchard-migrate-<tag>',
        ...[...services, 'migrate'].flatMap((s) => [`ServiceAccount/orchard-${s}`, `NetworkPolicy/orchard-${s}`]),
        'NetworkPolicy/orchard-default-deny',
        'NetworkPolicy/orchard-dns',
        ...services.flatMap((s) => [`Deployment/orchard-${s}`, `Service/orchard-${s}`, `PodDisruptionBudget/orchard-${s}`]),
        'Service/orchard-gateway-internal',
        'HorizontalPodAutoscaler/orchard-gateway',
        'ScaledObject/orchard-fetcher',
        'ScaledObject/orchard-extractor',
        'TriggerAuthentication/orchard-queue-redis',
      ].sort(),
    );
  });

  it('configures only variables Orchard reads, with values it accepts (the dev Secret is a template)', () => {
    expect(unknownVariables([...Object.keys(config.data ?? {}), ...Object.keys(secretTemplate)])).toEqual([]);
    const secret = named('Secret', 'orchard-secrets');
    if (overlay === 'dev') {
      expect(secret!.stringData).toEqual(secretTemplate);
      for (const [key, value] of Object.entries(secretTemplate)) {
        // The address KEDA reads is REDIS_URL's host:port, which is checked against it below.
        if (value !== '' && key !== 'KEDA_REDIS_ADDRESS') expect(value, key).toMatch(/CHANGE-ME/);
      }
    } else {
      expect(secret, 'production takes orchard-secrets from its secret store').toBeUndefined();
    }
    expect(settings.storage.kind).toBe('s3');
    // The queues and the cache in two Redis servers (noeviction vs. allkeys-lru; docs/cache-model.md).
    expect(new URL(settings.cacheRedisUrl).host).not.toBe(new URL(settings.redisUrl).host);
    for (const { name, template } of podTemplates()) {
      for (const container of template.spec.containers) {
        expect(unknownVariables((container.env ?? []).map((e: { name: string }) => e.name)), name).toEqual([]);
      }
    }
  });

  it('runs each workload from the overlay image with a command that exists, its config, and bounded resources', () => {
    const [image] = overlayKustomization(overlay).images as Array<{ name: string; newName: string; newTag: string }>;
    expect(image!.name).toBe('orchard');
    for (const { name, template } of podTemplates()) {
      const pod = template.spec;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
      for (const container of pod.containers) {
        const where = `${name}/${container.name}`;
        expect(container.image, where).toBe(`${image!.newName}:${image!.newTag}`);
        expect(container.command[0], where).toBe('node');
        expect(compiledFromSource(container.command[1]), `${where}: ${container.command[1]}`).toBe(true);
        const refs = (container.envFrom ?? []).map((e: any) => (e.configMapRef ? `ConfigMap/${e.configMapRef.name}` : `Secret/${e.secretRef.name}`));
        expect(refs.sort(), where).toEqual(['ConfigMap/orchard-config', 'Secret/orchard-secrets']);
        for (const kind of ['requests', 'limits']) expect(Object.keys(container.resources?.[kind] ?? {}).sort(), `${where} ${kind}`).toEqual(['cpu', 'memory']);
        expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
      }
    }
    expect(migrateJob().spec.template.spec.containers[0].command).toEqual(['node', 'dist/libs/db/migrate-cli.js']);
  });

  it('runs DDL only in the migration Job: every service has ORCHARD_MIGRATE=off, the Job does not', () => {
    // A container's environment: its envFrom sources, then its own `env` entries on top.
    const environment = (container: { env?: Array<{ name: string; value?: string }> }) => ({
      ...config.data,
      ...secretTemplate,
      ...Object.fromEntries((container.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!])),
    });
    for (const deployment of byKind('Deployment')) {
      for (const container of deployment.spec.template.spec.containers) {
        expect(loadSettings(environment(container)).migrate, deployment.metadata.name).toBe('off');
      }
    }
    const [job] = migrateJob().spec.template.spec.containers;
    expect(job.command).toEqual(['node', 'dist/libs/db/migrate-cli.js']);
    expect(loadSettings(environment(job)).migrate, 'the Job does not say it does not migrate').toBe('auto');
  });

  it('gives no pod a ServiceAccount token, each workload its own account', () => {
    for (const account of byKind('ServiceAccount')) expect(account.automountServiceAccountToken, account.metadata.name).toBe(false);
    for (const { name, template } of podTemplates()) {
      expect(template.spec.automountServiceAccountToken, name).toBe(false);
      expect(named('ServiceAccount', template.spec.serviceAccountName), `${name}: ${template.spec.serviceAccountName}`).toBeDefined();
    }
    const accounts = podTemplates().map((p) => p.template.spec.serviceAccountName);
    expect(new Set(accounts).size).toBe(accounts.length);
  });

  it('spreads every Deployment over zones (best effort) and nodes', () => {
    for (const deployment of byKind('Deployment')) {
      const constraints = deployment.spec.template.spec.topologySpreadConstraints ?? [];
      const by = (key: string) => constraints.find((c: any) => c.topologyKey === key);
      for (const key of ['topology.kubernetes.io/zone', 'kubernetes.io/hostname']) {
        const constraint = by(key);
        expect(constraint, `${deployment.metadata.name} ${key}`).toBeDefined();
        expect(constraint.maxSkew).toBe(1);
        expect(selects(constraint.labelSelector, deployment.spec.template.metadata.labels), `${deployment.metadata.name} ${key}`).toBe(true);
      }
      expect(by('topology.kubernetes.io/zone').whenUnsatisfiable).toBe('ScheduleAnyway');
    }
  });

  it('names the migration Job after the image tag, so a new image is a new Job (the template is immutable)', () => {
    const { images, replacements } = overlayKustomization(overlay);
    expect(migrateJob().metadata.name).toBe(`orchard-migrate-${images[0].newTag}`);
    // The replacement must sit beside `images`: a parent's images apply after this layer is built.
    expect(replacements).toHaveLength(1);
    const renamed = (tag: string): string => {
      const copy = mkdtempSync(path.join(tmpdir(), 'orchard-k8s-'));
      try {
        cpSync(K8S, copy, { recursive: true });
        const file = path.join(copy, 'overlays', overlay, 'kustomization.yaml');
        // What `kustomize edit set image orchard=<name>:<tag>` writes.
        const kustomization = parse(readFileSync(file, 'utf8'));
        kustomization.images[0].newTag = tag;
        writeFileSync(file, stringify(kustomization));
        const job = render(path.join(copy, 'overlays', overlay)).find((m) => m.kind === 'Job')!;
        expect(job.spec.template.spec.containers[0].image).toBe(`${images[0].newName}:${tag}`);
        return job.metadata.name;
      } finally {
        rmSync(copy, { recursive: true, force: true });
      }
    };
    const first = renamed('1.4.0');
    const second = renamed('1.5.0-rc.1');
    expect([first, second]).toEqual(['orchard-migrate-1.4.0', 'orchard-migrate-1.5.0-rc.1']);
    // Pods carry the Job's name in a label: at most 63 characters.
    expect(migrateJob().metadata.name.length).toBeLessThanOrEqual(63);
  });

  describe('NetworkPolicies', () => {
    let policies: Manifest[];
    const labelsOf = (component: string) => named('Deployment', `orchard-${component}`)?.spec.template.metadata.labels ?? migrateJob().spec.template.metadata.labels;
    const here = (podLabels: Record<string, string>): Peer => ({ namespace: 'orchard', namespaceLabels: { 'kubernetes.io/metadata.name': 'orchard' }, podLabels });
    const elsewhere = (namespaceLabels: Record<string, string> = {}): Peer => ({
      namespace: 'other',
      namespaceLabels: { 'kubernetes.io/metadata.name': 'other', ...namespaceLabels },
      podLabels: { app: 'x' },
    });
    const monitoring = elsewhere(MONITORING_NAMESPACE);
    const admin = here(ADMIN_POD);
    const external: Peer = { external: true };
    beforeAll(() => {
      policies = byKind('NetworkPolicy');
    });

    it('deny all traffic by default, and select every pod with a policy of its own', () => {
      const deny = policies.filter((p) => Object.keys(p.spec.podSelector).length === 0);
      expect(deny).toHaveLength(1);
      expect(deny[0]!.spec.policyTypes.sort()).toEqual(['Egress', 'Ingress']);
      expect(deny[0]!.spec.ingress ?? []).toEqual([]);
      expect(deny[0]!.spec.egress ?? []).toEqual([]);
      for (const { name, template } of podTemplates()) {
        const own = policies.filter((p) => p !== deny[0] && p.metadata.name !== 'orchard-dns' && selects(p.spec.podSelector, template.metadata.labels));
        expect(
          own.map((p) => p.metadata.name),
          name,
        ).toEqual([name.replace(/^orchard-migrate-.*$/, 'orchard-migrate')]);
        expect(own[0]!.spec.policyTypes.sort(), name).toEqual(['Egress', 'Ingress']);
      }
    });

    it("open the gateway's public port to anyone, its internal port to monitoring and admins only", () => {
      const gateway = labelsOf('gateway');
      for (const peer of [external, elsewhere(), here({ app: 'x' }), monitoring]) {
        expect(allowed(policies, 'ingress', gateway, { port: settings.gatewayPort, name: 'http' }, peer), JSON.stringify(peer)).toBe(true);
      }
      expect(allowed(policies, 'ingress', gateway, { port: internalPort, name: 'internal' }, monitoring)).toBe(true);
      expect(allowed(policies, 'ingress', gateway, { port: internalPort, name: 'internal' }, admin)).toBe(true);
      for (const peer of [external, elsewhere(), here({ app: 'x' }), here(labelsOf('fetcher'))]) {
        expect(allowed(policies, 'ingress', gateway, { port: internalPort, name: 'internal' }, peer), JSON.stringify(peer)).toBe(false);
      }
    });

    it("open the workers' ops ports to monitoring and admins, the fetcher's also to gateways (downloads in progress)", () => {
      const fetcher = labelsOf('fetcher');
      const extractor = labelsOf('extractor');
      // Gateways follow a download at ORCHARD_FETCHER_STREAM_URL: the fetcher pod's IP, its ops port.
      const streamUrl = named('Deployment', 'orchard-fetcher')!.spec.template.spec.containers[0].env.find((e: any) => e.name === 'ORCHARD_FETCHER_STREAM_URL').value;
      expect(Number(new URL(streamUrl.replace('$(POD_IP)', '10.0.0.1')).port)).toBe(settings.fetcherPort);
      expect(allowed(policies, 'ingress', fetcher, { port: settings.fetcherPort }, here(labelsOf('gateway')))).toBe(true);
      expect(allowed(policies, 'egress', labelsOf('gateway'), { port: settings.fetcherPort }, here(fetcher))).toBe(true);
      for (const [labels, port] of [
        [fetcher, settings.fetcherPort],
        [extractor, settings.extractorPort],
      ] as const) {
        expect(allowed(policies, 'ingress', labels, { port }, monitoring)).toBe(true);
        expect(allowed(policies, 'ingress', labels, { port }, admin)).toBe(true);
        for (const peer of [external, elsewhere(), here({ app: 'x' }), here(labelsOf('extractor'))]) {
          expect(allowed(policies, 'ingress', labels, { port }, peer), `${labels['app.kubernetes.io/component']} from ${JSON.stringify(peer)}`).toBe(false);
        }
      }
      expect(allowed(policies, 'ingress', extractor, { port: settings.extractorPort }, here(labelsOf('gateway')))).toBe(false);
    });

    it('let pods reach DNS and what each needs outside: Redis, PostgreSQL, S3, upstreams', () => {
      const dns = elsewhere();
      const kubeSystem: Peer = { namespace: 'kube-system', namespaceLabels: { 'kubernetes.io/metadata.name': 'kube-system' }, podLabels: { 'k8s-app': 'kube-dns' } };
      const needs: Record<string, number[]> = {
        gateway: [6379, 5432, 443, 9000, 80],
        fetcher: [6379, 5432, 443, 9000, 80],
        extractor: [6379, 5432, 443, 9000],
        migrate: [5432],
      };
      for (const [component, ports] of Object.entries(needs)) {
        const labels = labelsOf(component);
        for (const protocol of ['UDP', 'TCP'] as const) {
          expect(allowed(policies, 'egress', labels, { port: 53, protocol }, kubeSystem), `${component} DNS ${protocol}`).toBe(true);
          expect(allowed(policies, 'egress', labels, { port: 53, protocol }, dns), `${component} DNS elsewhere`).toBe(false);
        }
        for (const port of [6379, 5432, 443, 9000, 80, 22, 8080]) {
          expect(allowed(policies, 'egress', labels, { port }, external), `${component} → :${port}`).toBe(ports.includes(port));
        }
      }
      // Redis and PostgreSQL are where the configuration says.
      expect(Number(new URL(settings.redisUrl).port)).toBe(6379);
      expect(Number(new URL(settings.cacheRedisUrl).port)).toBe(6379);
      expect(Number(new URL(secretTemplate.DATABASE_URL!).port)).toBe(5432);
    });
  });

  describe.each(['gateway', 'fetcher', 'extractor'] as OrchardService[])('the %s Deployment', (service) => {
    let deployment: Manifest;
    let container: any;
    let port: number;
    /** Where /metrics is: the gateway's internal port, a worker's ops port. */
    let metricsPort: number;
    beforeAll(() => {
      deployment = named('Deployment', `orchard-${service}`)!;
      container = deployment.spec.template.spec.containers[0];
      port = { gateway: settings.gatewayPort, fetcher: settings.fetcherPort, extractor: settings.extractorPort }[service];
      metricsPort = service === 'gateway' ? internalPort : port;
    });

    const portNumber = (ref: string | number): number => (typeof ref === 'number' ? ref : container.ports.find((p: { name: string }) => p.name === ref)?.containerPort);

    it('runs that service, listening where the configuration says', () => {
      expect(serviceOfCommand(container.command)).toBe(service);
      expect(container.ports.map((p: { containerPort: number }) => p.containerPort)).toEqual(service === 'gateway' ? [port, internalPort] : [port]);
      expect(matches(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels)).toBe(true);
    });

    it('probes real routes on the real port: liveness /health, readiness as documented', async () => {
      const probes: Record<string, { httpGet: { path: string; port: string | number } } | undefined> = {
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

    it('is scraped by Prometheus through its annotations, on the port /metrics is served at', async () => {
      const annotations = deployment.spec.template.metadata.annotations;
      expect(annotations['prometheus.io/scrape']).toBe('true');
      expect(Number(annotations['prometheus.io/port'])).toBe(metricsPort);
      expect(container.ports.map((p: { containerPort: number }) => p.containerPort)).toContain(metricsPort);
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
      // The gateway's Service is its public one: only the public port, never the internal one.
      expect(svc.spec.ports.map((p: { targetPort: string | number }) => portNumber(p.targetPort))).toEqual([port]);
      const pdb = named('PodDisruptionBudget', `orchard-${service}`)!;
      expect(matches(pdb.spec.selector.matchLabels, labels)).toBe(true);
      if (service === 'gateway') {
        const internal = named('Service', 'orchard-gateway-internal')!;
        expect(internal.spec.type ?? 'ClusterIP').toBe('ClusterIP');
        expect(matches(internal.spec.selector, labels)).toBe(true);
        expect(internal.spec.ports.map((p: { targetPort: string | number }) => portNumber(p.targetPort))).toEqual([internalPort]);
      }
    });

    it("is autoscaled: the gateway on CPU, a worker on its queue's depth in Redis", () => {
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
      expect(scaled!.spec.scaleTargetRef.name).toBe(deployment.metadata.name);
      // BullMQ's own key names for the queue, under the prefix Orchard's configuration gives it.
      const keys = new QueueKeys(settings.queuePrefix).getKeys(QUEUE_OF[service]!);
      // `npm run reextract` adds extract jobs with a priority: those wait in `prioritized`, not `wait`.
      const watched = service === 'extractor' && REEXTRACT_PRIORITY > 0 ? [keys.wait, keys.prioritized] : [keys.wait];
      const triggers = scaled!.spec.triggers as Array<{ type: string; metadata: Record<string, string>; authenticationRef?: { name: string } }>;
      expect(triggers.map((t) => t.metadata.listName)).toEqual(watched);
      const redis = new URL(settings.redisUrl);
      for (const trigger of triggers) {
        expect(trigger.type).toBe('redis');
        expect(Number(trigger.metadata.listLength)).toBeGreaterThan(0);
        // Nothing about the server in the trigger itself: it comes from the Secret.
        expect(Object.keys(trigger.metadata).filter((k) => /^(address|host|port|password)/i.test(k))).toEqual([]);
        expect(trigger.metadata.databaseIndex).toBe(redis.pathname.replace(/^\//, '') || '0');
        expect(trigger.metadata.enableTLS).toBe(String(redis.protocol === 'rediss:'));
        expect(named('TriggerAuthentication', trigger.authenticationRef!.name), trigger.authenticationRef!.name).toBeDefined();
      }
    });
  });

  it("points KEDA's TriggerAuthentication at the queue Redis of REDIS_URL, from the Secret", () => {
    const auth = named('TriggerAuthentication', 'orchard-queue-redis')!;
    const refs = Object.fromEntries((auth.spec.secretTargetRef as Array<{ parameter: string; name: string; key: string }>).map((r) => [r.parameter, r]));
    expect(Object.keys(refs).sort()).toEqual(['address', 'password']);
    for (const ref of Object.values(refs)) {
      expect(ref.name).toBe('orchard-secrets');
      expect(Object.keys(secretTemplate), ref.key).toContain(ref.key);
    }
    const redis = new URL(settings.redisUrl);
    expect(secretTemplate[refs.address!.key]).toBe(`${redis.hostname}:${redis.port || '6379'}`);
    expect(secretTemplate[refs.password!.key]).toBe(decodeURIComponent(redis.password));
  });

  it(`${overlay === 'prod' ? 'routes its Ingress' : 'has no Ingress (prod routes one)'} to the public port only, with TLS and limits for large downloads`, () => {
    const ingresses = byKind('Ingress');
    expect(ingresses.map((i) => i.metadata.name)).toEqual(overlay === 'prod' ? ['orchard-gateway'] : []);
    for (const ingress of ingresses) checkIngress(ingress);
  });

  function checkIngress(ingress: Manifest): void {
    expect(ingress.spec.ingressClassName).toBe('nginx');
    expect(ingress.spec.tls[0].secretName).toBeTruthy();
    const annotations = ingress.metadata.annotations!;
    expect(annotations['nginx.ingress.kubernetes.io/proxy-buffering']).toBe('off');
    expect(annotations['nginx.ingress.kubernetes.io/proxy-body-size']).toBeDefined();
    // nginx's read timeout must outlast the gateway's own idle timeout.
    expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout']) * 1000).toBeGreaterThan(settings.httpIdleTimeoutMs);
    const service = named('Service', 'orchard-gateway')!;
    for (const rule of ingress.spec.rules) {
      for (const p of rule.http.paths) {
        expect(p.backend.service.name).toBe(service.metadata.name);
        const servicePort = service.spec.ports.find((sp: { name: string; port: number }) => sp.name === p.backend.service.port.name || sp.port === p.backend.service.port.number);
        expect(servicePort?.port).toBe(settings.gatewayPort);
      }
    }
  }
});
