/**
 * Offline checks of the deployment files: every Kubernetes object under deploy/kubernetes is
 * validated against the Kubernetes OpenAPI schemas (kubernetes-models), the embedded
 * config.yaml files go through the real config loader, probes and ports are checked against
 * the listeners that config actually binds, and docker-compose.yml / nginx.conf / Dockerfile
 * are checked structurally. `docker-compose config -q` runs too where the binary exists
 * (Debian's docker-compose; CI machines may not have it, the structural checks always run).
 * There is no cluster and no Docker engine here: nothing is applied or started.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { routeTable } from '@aisix/admin-api';
import { type Config, parseConfig, parseSocketAddr } from '@aisix/core';
import { Deployment, type IDeployment, type IStatefulSet, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler, type IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { type IPodDisruptionBudget, PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import {
  ConfigMap,
  type IConfigMap,
  type ISecret,
  type IService,
  Namespace,
  Secret,
  Service,
} from 'kubernetes-models/v1';
import type { IContainer } from 'kubernetes-models/v1/Container';
import { parse, parseAllDocuments } from 'yaml';
import { configEnv } from './load-config.js';

const ROOT = process.env.AISIX_REPO_ROOT ?? new URL('../../../../', import.meta.url).pathname;
const K8S = join(ROOT, 'deploy/kubernetes');

type Validatable = { validate(): void };
type ModelCtor = new (data: never) => Validatable;
const MODELS: Record<string, ModelCtor> = {
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Namespace': Namespace,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
};

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  file: string;
  raw: Record<string, unknown>;
}

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...yamlFiles(p));
    else if (name.endsWith('.yaml') || name.endsWith('.yml')) out.push(p);
  }
  return out;
}

function isKustomization(file: string): boolean {
  return file.endsWith('/kustomization.yaml');
}

function loadObjects(): K8sObject[] {
  const objs: K8sObject[] = [];
  for (const file of yamlFiles(K8S).filter((f) => !isKustomization(f))) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      assert.equal(doc.errors.length, 0, `${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const raw = doc.toJS() as Record<string, unknown> | null;
      if (raw === null) continue;
      const metadata = raw.metadata as { name: string } | undefined;
      assert.ok(metadata?.name, `${file}: object without metadata.name`);
      objs.push({
        apiVersion: String(raw.apiVersion),
        kind: String(raw.kind),
        metadata: metadata as K8sObject['metadata'],
        file: relative(ROOT, file),
        raw,
      });
    }
  }
  return objs;
}

/** Validates with the Kubernetes schema, then returns the object typed as that model. */
function validated<T>(obj: K8sObject): T {
  const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
  assert.ok(Model, `${obj.file}: no schema for ${obj.apiVersion} ${obj.kind}`);
  new Model(obj.raw as never).validate();
  return obj.raw as T;
}

function find<T>(objs: K8sObject[], kind: string, name: string): T {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `missing ${kind} ${name}`);
  return validated<T>(o);
}

function portOf(addr: string): number {
  const a = parseSocketAddr(addr);
  assert.ok(a, `not a socket address: ${addr}`);
  return a.port;
}

function loadConfigText(text: string, env: Record<string, string | undefined>): Config {
  const r = parseConfig({ text, path: 'config.yaml', env });
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.config;
}

function containerPort(c: IContainer, name: string | number | undefined): number {
  if (typeof name === 'number') return name;
  const p = c.ports?.find((x) => x.name === name);
  assert.ok(p, `container ${c.name} has no port named ${String(name)}`);
  return p.containerPort;
}

function execSeconds(cmd: readonly string[] | undefined): number {
  assert.ok(
    cmd && cmd[0] === 'sleep' && cmd.length === 2,
    `preStop must be ["sleep", "<secs>"], got ${JSON.stringify(cmd)}`,
  );
  const n = Number(cmd[1]);
  assert.ok(Number.isFinite(n), `preStop sleep is not a number: ${cmd[1]}`);
  return n;
}

/** Paths the admin listener really serves (its route table), e.g. /livez, /readyz. */
const ADMIN_PATHS = new Set(routeTable().map((r) => r.path));
/** The proxy listener's probe endpoints (control-plane contract: proxy serves /livez and /readyz). */
const PROXY_PROBES = new Set(['/livez', '/readyz']);

describe('kubernetes manifests (deploy/kubernetes)', () => {
  const objs = loadObjects();

  test('every object validates against the Kubernetes schema', () => {
    assert.ok(objs.length >= 10, `expected the full base, found ${objs.length} objects`);
    for (const o of objs) {
      try {
        validated(o);
      } catch (err) {
        assert.fail(
          `${o.file}: ${o.kind}/${o.metadata.name}: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
  });

  test('the schema check rejects a broken object (the validator can fail)', () => {
    const gw = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'aisix-gateway');
    assert.ok(gw);
    const broken = structuredClone(gw.raw);
    (broken.spec as Record<string, unknown>).replicas = 'three';
    assert.throws(() => new Deployment(broken as never).validate(), /replicas/);
  });

  test('kustomizations list files that exist, and the base lists every manifest', () => {
    for (const k of yamlFiles(K8S).filter(isKustomization)) {
      const doc = parse(readFileSync(k, 'utf8')) as { resources?: string[] };
      for (const r of doc.resources ?? []) {
        assert.ok(existsSync(join(dirname(k), r)), `${relative(ROOT, k)}: resource ${r} does not exist`);
      }
    }
    const base = parse(readFileSync(join(K8S, 'base/kustomization.yaml'), 'utf8')) as { resources: string[] };
    const manifests = readdirSync(join(K8S, 'base')).filter(
      (f) => f.endsWith('.yaml') && f !== 'kustomization.yaml',
    );
    assert.deepEqual([...base.resources].sort(), manifests.sort());
  });

  const cm = find<IConfigMap>(objs, 'ConfigMap', 'aisix-config');
  const secret = find<ISecret>(objs, 'Secret', 'aisix-admin');
  const configText = cm.data?.['config.yaml'];
  const adminKeys = secret.stringData?.['admin-keys'];

  test('the ConfigMap config.yaml loads as an etcd cluster config with the Secret admin key', () => {
    assert.ok(configText && adminKeys);
    const r = parseConfig({
      text: configText,
      path: 'config.yaml',
      env: { AISIX_ADMIN__ADMIN_KEYS: adminKeys },
    });
    assert.ok(r.ok, r.ok ? '' : r.error);
    assert.equal(r.source, 'etcd');
    assert.deepEqual(r.config.admin.admin_keys, adminKeys.split(','));
    // Without the Secret the admin role must refuse to boot (no key baked into the ConfigMap).
    const bare = parseConfig({ text: configText, path: 'config.yaml', env: {} });
    assert.equal(bare.ok, false);
    // The gateway role needs no admin key.
    assert.ok(parseConfig({ text: configText, path: 'config.yaml', env: configEnv({}, 'gateway') }).ok);
  });

  test('gateway Deployment: role, probes on real endpoints and ports, drain timing', () => {
    assert.ok(configText);
    const config = loadConfigText(configText, configEnv({}, 'gateway'));
    const dep = find<IDeployment>(objs, 'Deployment', 'aisix-gateway');
    const pod = dep.spec?.template.spec;
    const c = pod?.containers[0];
    assert.ok(pod && c);
    assert.deepEqual(c.args, ['--config', '/etc/aisix/config.yaml', '--role', 'gateway']);
    const probes = { readiness: c.readinessProbe, liveness: c.livenessProbe, startup: c.startupProbe };
    for (const [what, probe] of Object.entries(probes)) {
      const get = probe?.httpGet;
      assert.ok(get, `${what} probe must be httpGet`);
      assert.ok(
        PROXY_PROBES.has(get.path ?? ''),
        `${what} probe path ${get.path} is not a proxy probe endpoint`,
      );
      assert.equal(
        containerPort(c, get.port),
        portOf(config.proxy.addr),
        `${what} probe must hit proxy.addr`,
      );
    }
    assert.equal(c.readinessProbe?.httpGet?.path, '/readyz');
    assert.equal(c.livenessProbe?.httpGet?.path, '/livez');
    assert.equal(containerPort(c, 'metrics'), portOf(config.observability.metrics.prometheus.addr));
    const preStop = execSeconds(c.lifecycle?.preStop?.exec?.command);
    const { min_drain_secs, max_drain_secs } = config.shutdown;
    assert.ok(preStop >= min_drain_secs, `preStop sleep ${preStop}s < min_drain_secs ${min_drain_secs}`);
    const grace = pod.terminationGracePeriodSeconds ?? 30;
    assert.ok(grace > max_drain_secs, `terminationGracePeriodSeconds ${grace} <= max_drain_secs`);
    assert.ok(
      grace > preStop + min_drain_secs + max_drain_secs,
      `terminationGracePeriodSeconds ${grace} must exceed preStop + min + max drain (${preStop + min_drain_secs + max_drain_secs})`,
    );
    const mount = c.volumeMounts?.find((m) => m.mountPath === '/etc/aisix');
    const vol = pod.volumes?.find((v) => v.name === mount?.name);
    assert.equal(vol?.configMap?.name, 'aisix-config');
  });

  test('admin Deployment: role, admin key from the Secret, probes on the admin listener', () => {
    assert.ok(configText && adminKeys);
    const config = loadConfigText(configText, { AISIX_ADMIN__ADMIN_KEYS: adminKeys });
    const dep = find<IDeployment>(objs, 'Deployment', 'aisix-admin');
    const c = dep.spec?.template.spec?.containers[0];
    assert.ok(c);
    assert.deepEqual(c.args, ['--config', '/etc/aisix/config.yaml', '--role', 'admin']);
    const env = c.env?.find((e) => e.name === 'AISIX_ADMIN__ADMIN_KEYS');
    assert.equal(env?.valueFrom?.secretKeyRef?.name, 'aisix-admin');
    assert.equal(env?.valueFrom?.secretKeyRef?.key, 'admin-keys');
    for (const probe of [c.readinessProbe, c.livenessProbe]) {
      const get = probe?.httpGet;
      assert.ok(
        get && ADMIN_PATHS.has(get.path ?? ''),
        `admin probe path ${get?.path} is not an admin route`,
      );
      assert.equal(containerPort(c, get.port), portOf(config.admin.addr));
    }
  });

  test('Services, PDB and HPA select the pods they are meant for', () => {
    for (const name of ['aisix-gateway', 'aisix-admin']) {
      const dep = find<IDeployment>(objs, 'Deployment', name);
      const svc = find<IService>(objs, 'Service', name);
      const labels = dep.spec?.template.metadata?.labels ?? {};
      for (const [k, v] of Object.entries(svc.spec?.selector ?? {}))
        assert.equal(labels[k], v, `${name} Service selector`);
      const c = dep.spec?.template.spec?.containers[0];
      assert.ok(c);
      for (const p of svc.spec?.ports ?? []) containerPort(c, p.targetPort);
    }
    const gwLabels =
      find<IDeployment>(objs, 'Deployment', 'aisix-gateway').spec?.template.metadata?.labels ?? {};
    const pdb = find<IPodDisruptionBudget>(objs, 'PodDisruptionBudget', 'aisix-gateway');
    for (const [k, v] of Object.entries(pdb.spec?.selector?.matchLabels ?? {})) assert.equal(gwLabels[k], v);
    assert.equal(pdb.spec?.minAvailable, 2);
    const hpa = find<IHorizontalPodAutoscaler>(objs, 'HorizontalPodAutoscaler', 'aisix-gateway');
    assert.deepEqual(hpa.spec?.scaleTargetRef, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'aisix-gateway',
    });
    assert.ok(
      (hpa.spec?.minReplicas ?? 1) >= (pdb.spec?.minAvailable as number) + 1,
      'HPA floor must leave room for the PDB',
    );
    const cpu = hpa.spec?.metrics?.[0]?.resource;
    assert.equal(cpu?.name, 'cpu');
    assert.equal(cpu?.target.averageUtilization, 70);
    const gwContainer = find<IDeployment>(objs, 'Deployment', 'aisix-gateway').spec?.template.spec
      ?.containers[0];
    assert.ok(gwContainer?.resources?.requests?.cpu, 'HPA on CPU needs a CPU request');
  });

  test('etcd: 3 members, headless Service, static cluster, auto-compaction, config points at it', () => {
    const sts = find<IStatefulSet>(objs, 'StatefulSet', 'etcd');
    const svc = find<IService>(objs, 'Service', 'etcd');
    assert.equal(sts.spec?.replicas, 3);
    assert.equal(sts.spec?.podManagementPolicy, 'Parallel');
    assert.equal(sts.spec?.serviceName, 'etcd');
    assert.equal(svc.spec?.clusterIP, 'None');
    assert.equal(svc.spec?.publishNotReadyAddresses, true);
    const c = sts.spec?.template.spec?.containers[0];
    assert.ok(c?.command);
    const flag = (name: string): string | undefined =>
      c.command?.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
    assert.equal(flag('auto-compaction-mode'), 'periodic');
    assert.ok(flag('auto-compaction-retention'));
    const members = (flag('initial-cluster') ?? '').split(',');
    assert.deepEqual(
      members,
      [0, 1, 2].map((i) => `etcd-${i}=http://etcd-${i}.etcd:2380`),
    );
    assert.equal(containerPort(c, c.readinessProbe?.httpGet?.port), 2381);
    assert.ok(sts.spec?.volumeClaimTemplates?.length);
    assert.ok(configText);
    const config = loadConfigText(configText, configEnv({}, 'gateway'));
    assert.deepEqual(
      config.etcd.endpoints,
      [0, 1, 2].map((i) => `http://etcd-${i}.etcd:${containerPort(c, 'client')}`),
    );
  });
});

interface ComposeService {
  image?: string;
  build?: string | { context: string };
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, ComposeService>;
  };
  const services = compose.services;
  const gateways = ['gateway-1', 'gateway-2', 'gateway-3'];
  const composeConfigText = readFileSync(join(ROOT, 'deploy/compose/config.yaml'), 'utf8');

  test('services: etcd, one admin, three gateways, nginx', () => {
    assert.deepEqual(Object.keys(services).sort(), ['admin', 'etcd', ...gateways, 'lb'].sort());
    assert.match(services.etcd?.image ?? '', /etcd:v3\.5/);
    assert.match(services.lb?.image ?? '', /^nginx:/);
  });

  test('every AISIX service is built from this repo and runs its role on the mounted config', () => {
    for (const [name, role] of [['admin', 'admin'], ...gateways.map((g) => [g, 'gateway'])] as const) {
      const s = services[name];
      assert.ok(s, name);
      assert.equal(typeof s.build === 'string' ? s.build : s.build?.context, '.');
      const cmd = s.command ?? [];
      assert.deepEqual(cmd.slice(-2), ['--role', role], `${name} role`);
      const configPath = cmd[cmd.indexOf('--config') + 1];
      const mount = (s.volumes ?? []).find((v) => v.split(':')[1] === configPath);
      assert.ok(mount, `${name}: ${configPath} is not mounted`);
      assert.ok(existsSync(join(ROOT, mount.split(':')[0] ?? '')), `${name}: ${mount} source missing`);
      assert.equal(s.depends_on?.etcd?.condition, 'service_healthy', `${name} waits for etcd`);
    }
  });

  test('healthchecks hit the real probe endpoints on the configured ports', () => {
    const gwConfig = loadConfigText(composeConfigText, configEnv({}, 'gateway'));
    const adminKey = services.admin?.environment?.AISIX_ADMIN__ADMIN_KEYS ?? '';
    assert.match(
      adminKey,
      /^\$\{AISIX_ADMIN_KEY:-.+\}$/,
      'admin key comes from the shell, with a placeholder default',
    );
    const adminConfig = loadConfigText(composeConfigText, { AISIX_ADMIN__ADMIN_KEYS: 'k' });
    assert.deepEqual(gwConfig.etcd.endpoints, ['http://etcd:2379']);
    const urlIn = (s: ComposeService | undefined): URL => {
      const m = (s?.healthcheck?.test ?? []).join(' ').match(/https?:\/\/[^'"\s)]+/);
      assert.ok(m, 'healthcheck has no URL');
      return new URL(m[0]);
    };
    for (const g of gateways) {
      const u = urlIn(services[g]);
      assert.equal(u.pathname, '/readyz');
      assert.equal(Number(u.port), portOf(gwConfig.proxy.addr));
    }
    const a = urlIn(services.admin);
    assert.ok(ADMIN_PATHS.has(a.pathname));
    assert.equal(Number(a.port), portOf(adminConfig.admin.addr));
    assert.deepEqual(services.etcd?.healthcheck?.test.slice(0, 2), ['CMD', 'etcdctl']);
    assert.deepEqual(services.admin?.ports, [
      `127.0.0.1:${portOf(adminConfig.admin.addr)}:${portOf(adminConfig.admin.addr)}`,
    ]);
  });

  test('nginx balances exactly the three gateways, after they are healthy', () => {
    const lb = services.lb;
    assert.ok(lb);
    for (const g of gateways) assert.equal(lb.depends_on?.[g]?.condition, 'service_healthy');
    const confMount = (lb.volumes ?? []).find((v) => v.split(':')[1] === '/etc/nginx/nginx.conf');
    assert.ok(confMount);
    const conf = readFileSync(join(ROOT, confMount.split(':')[0] ?? ''), 'utf8');
    const gwPort = portOf(loadConfigText(composeConfigText, configEnv({}, 'gateway')).proxy.addr);
    const upstreams = [...conf.matchAll(/^\s*server\s+([\w.-]+):(\d+)/gm)].map((m) => `${m[1]}:${m[2]}`);
    assert.deepEqual(
      upstreams,
      gateways.map((g) => `${g}:${gwPort}`),
    );
    assert.match(conf, /proxy_buffering off;/, 'SSE must not be buffered');
    const listen = conf.match(/listen\s+(\d+);/)?.[1];
    assert.deepEqual(lb.ports, [`127.0.0.1:${listen}:${listen}`]);
    const health = (lb.healthcheck?.test ?? []).join(' ').match(/:(\d+)\/healthz/)?.[1];
    assert.ok(health && conf.includes(`listen ${health};`), 'lb healthcheck port is served by nginx.conf');
  });

  test('docker-compose config -q accepts the file (when Debian docker-compose is installed)', (t) => {
    const which = spawnSync('sh', ['-c', 'command -v docker-compose'], { encoding: 'utf8' });
    if (which.status !== 0) {
      t.diagnostic('docker-compose not installed: structural checks above only');
      return;
    }
    const r = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
  });
});

describe('Dockerfile and the image default config', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

  test('node:20-slim, the pinned pnpm, and the CLI entry point that the build emits', () => {
    const rootPkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      packageManager: string;
    };
    assert.match(dockerfile, /^FROM node:20-slim AS build$/m);
    assert.match(dockerfile, /^FROM node:20-slim$/m);
    for (const m of dockerfile.matchAll(/npx -y (pnpm@[\d.]+)/g)) assert.equal(m[1], rootPkg.packageManager);
    // The young-generation cap (heap.ts) is a launch flag: only the command line can set it.
    const entry = dockerfile.match(/^ENTRYPOINT \["node", "--max-semi-space-size=8", "\/app\/(.+)"\]$/m)?.[1];
    assert.equal(entry, 'packages/cli/dist/src/main.js');
    assert.ok(existsSync(join(ROOT, entry)), 'the build emits the entry point');
    assert.match(dockerfile, /^COPY deploy\/docker\/config\.yaml \/etc\/aisix\/config\.yaml$/m);
  });

  test('the image default config boots only with an admin key from the environment', () => {
    const text = readFileSync(join(ROOT, 'deploy/docker/config.yaml'), 'utf8');
    const without = parseConfig({ text, path: 'config.yaml', env: {} });
    assert.equal(without.ok, false);
    assert.match(without.ok ? '' : without.error, /admin_keys/);
    const config = loadConfigText(text, { AISIX_ADMIN__ADMIN_KEYS: 'k' });
    assert.equal(config.data_dir, '/var/lib/aisix');
    const exposed =
      dockerfile
        .match(/^EXPOSE (.+)$/m)?.[1]
        ?.split(/\s+/)
        .map(Number) ?? [];
    for (const addr of [config.proxy.addr, config.admin.addr, config.observability.metrics.prometheus.addr]) {
      assert.ok(exposed.includes(portOf(addr)), `EXPOSE misses ${addr}`);
    }
  });
});
