// deploy/kubernetes, checked offline: every document against the Kubernetes API schemas (kubernetes-models,
// plus unknown fields from its type declarations), the overlay rendered as kustomize would, and the
// manifests against what the app itself declares (env.schema.ts, the health routes, PORT, the shutdown budget).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { loadAll } from 'js-yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { envSchema, parseEnv } from '../src/config/env.schema';

type Obj = Record<string, any>;

const ROOT = resolve(__dirname, '..');
const K8S = join(ROOT, 'deploy', 'kubernetes');
const BASE = join(K8S, 'base');
const OVERLAY = join(K8S, 'overlays', 'production-example');
const SCHEMA_KEYS = new Set(Object.keys(envSchema.shape));

/** The model class (schema) and type declaration of every kind the manifests may use. */
const KINDS: Record<string, { model: new (data: any) => { validate(): void }; dts: string }> = {
  'v1/Namespace': { model: Namespace, dts: 'kubernetes-models/v1/Namespace' },
  'v1/ConfigMap': { model: ConfigMap, dts: 'kubernetes-models/v1/ConfigMap' },
  'v1/Secret': { model: Secret, dts: 'kubernetes-models/v1/Secret' },
  'v1/Service': { model: Service, dts: 'kubernetes-models/v1/Service' },
  'apps/v1/Deployment': { model: Deployment, dts: 'kubernetes-models/apps/v1/Deployment' },
  'batch/v1/Job': { model: Job, dts: 'kubernetes-models/batch/v1/Job' },
  'autoscaling/v2/HorizontalPodAutoscaler': {
    model: HorizontalPodAutoscaler,
    dts: 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler',
  },
  'policy/v1/PodDisruptionBudget': { model: PodDisruptionBudget, dts: 'kubernetes-models/policy/v1/PodDisruptionBudget' },
  'networking.k8s.io/v1/Ingress': { model: Ingress, dts: 'kubernetes-models/networking.k8s.io/v1/Ingress' },
  'networking.k8s.io/v1/NetworkPolicy': { model: NetworkPolicy, dts: 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy' },
  'monitoring.coreos.com/v1/ServiceMonitor': {
    model: ServiceMonitor,
    dts: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
  },
};
const kindOf = (doc: Obj) => `${doc.apiVersion}/${doc.kind}`;
const idOf = (doc: Obj) => `${doc.kind}/${doc.metadata?.name}`;

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? yamlFiles(path) : /\.ya?ml$/.test(name) ? [path] : [];
    })
    .sort();
}
const loadDocs = (file: string): Obj[] => (loadAll(readFileSync(file, 'utf8')) as Obj[]).filter((d) => d != null);

// ---------------------------------------------------------------------------------------------
// Unknown fields. kubernetes-models' validators check types and required fields but, like the
// OpenAPI schemas they come from, accept any extra key: a typo (readOnlyRootFileSystem) would pass
// here and be refused (or ignored) by the API server. The .d.ts files list every field of every
// type, so walk them alongside the document.
type Shape = { kind: 'leaf' } | { kind: 'array'; of: Shape } | { kind: 'object'; props: Map<string, () => Shape> };
const LEAF: Shape = { kind: 'leaf' };
const interfaceCache = new Map<string, Shape>();

function dtsOf(module: string, from = ROOT): string {
  return require.resolve(module, { paths: [from] }).replace(/\.js$/, '.d.ts');
}

/** The first interface a .d.ts declares (each kubernetes-models file declares one), as a shape. */
function interfaceShape(file: string): Shape {
  const cached = interfaceCache.get(file);
  if (cached) return cached;
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
  const imports = new Map<string, string>();
  for (const [, names, from] of text.matchAll(/import \{([^}]+)\} from "([^"]+)"/g)) {
    for (const name of names.split(',').map((n) =>
      n
        .trim()
        .split(/\s+as\s+/)
        .pop()!,
    ))
      imports.set(name, from);
  }
  const start = /export interface \w+(?: extends [\w, ]+)? \{/.exec(text);
  // A type alias (IntOrString, Quantity...) has no interface: any value of the right type.
  const shape = start ? objectShape(blockAt(text, start.index + start[0].length - 1), { file, imports }) : LEAF;
  interfaceCache.set(file, shape);
  return shape;
}

/** The text inside the braces starting at `open`. */
function blockAt(text: string, open: number): string {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return text.slice(open + 1, i);
  }
  throw new Error('unbalanced braces');
}

interface DtsContext {
  file: string;
  imports: Map<string, string>;
}

function objectShape(body: string, ctx: DtsContext): Shape {
  const props = new Map<string, () => Shape>();
  let depth = 0;
  let member = '';
  for (const ch of body) {
    if ('{<[('.includes(ch)) depth++;
    if ('}>])'.includes(ch)) depth--;
    if (ch === ';' && depth === 0) {
      const m = /^\s*"([^"]+)"\??:\s*([\s\S]+)$/.exec(member);
      if (m) {
        let memo: Shape | undefined;
        props.set(m[1], () => (memo ??= typeShape(m[2].trim(), ctx)));
      } else if (/^\s*\[key: string\]/.test(member)) return LEAF; // a map: any key
      member = '';
    } else member += ch;
  }
  return { kind: 'object', props };
}

function typeShape(type: string, ctx: DtsContext): Shape {
  const array = /^Array<([\s\S]+)>$/.exec(type);
  if (array) return { kind: 'array', of: typeShape(array[1].trim(), ctx) };
  if (type.startsWith('{')) return objectShape(blockAt(type, 0), ctx);
  const from = ctx.imports.get(type);
  if (from) return interfaceShape(from.startsWith('.') ? resolve(dirname(ctx.file), `${from}.d.ts`) : dtsOf(from, dirname(ctx.file)));
  return LEAF; // string, number, boolean, literal unions, IDeployment["kind"]...
}

function unknownFields(value: unknown, shape: Shape, path: string, found: string[] = []): string[] {
  if (value == null || shape.kind === 'leaf') return found;
  if (shape.kind === 'array') {
    if (Array.isArray(value)) value.forEach((item, i) => unknownFields(item, shape.of, `${path}[${i}]`, found));
    return found;
  }
  if (typeof value !== 'object' || Array.isArray(value)) return found;
  for (const [key, child] of Object.entries(value)) {
    const sub = shape.props.get(key);
    if (!sub) found.push(`${path}.${key}`);
    else unknownFields(child, sub(), `${path}.${key}`, found);
  }
  return found;
}

/** Schema errors and unknown fields of one complete document; [] when it is valid. */
function problemsOf(doc: Obj): string[] {
  const kind = KINDS[kindOf(doc)];
  if (!kind) return [`${kindOf(doc)} is not a kind this test knows (add its model to KINDS)`];
  const problems: string[] = [];
  try {
    new kind.model(doc).validate();
  } catch (err) {
    problems.push((err as Error).message);
  }
  return [...problems, ...unknownFields(doc, interfaceShape(dtsOf(kind.dts)), idOf(doc)).map((p) => `${p}: unknown field`)];
}

// ---------------------------------------------------------------------------------------------
// Kustomize, for the features these kustomizations use (anything else is refused, not ignored):
// resources (files and directories), namespace, images, and patches by path (strategic merge:
// maps merged, lists of named items merged by name, other lists replaced, null deletes).
const KUSTOMIZATION_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'images', 'patches']);
const CLUSTER_SCOPED = new Set(['Namespace']);

function kustomize(dir: string): Obj[] {
  const k = loadDocs(join(dir, 'kustomization.yaml'))[0];
  const unsupported = Object.keys(k).filter((key) => !KUSTOMIZATION_FIELDS.has(key));
  if (unsupported.length) throw new Error(`${relative(ROOT, dir)}/kustomization.yaml: fields this test cannot render: ${unsupported}`);
  const docs: Obj[] = (k.resources ?? []).flatMap((r: string) => {
    const path = resolve(dir, r);
    if (!existsSync(path)) throw new Error(`${relative(ROOT, dir)}: resource ${r} does not exist`);
    return statSync(path).isDirectory() ? kustomize(path) : loadDocs(path);
  });
  for (const patch of k.patches ?? []) {
    if (Object.keys(patch).join() !== 'path') throw new Error(`${relative(ROOT, dir)}: only {path} patches are rendered here`);
    for (const p of loadDocs(resolve(dir, patch.path))) {
      const target = docs.find((d) => kindOf(d) === kindOf(p) && d.metadata?.name === p.metadata?.name);
      if (!target) throw new Error(`${patch.path}: ${idOf(p)} matches no resource`);
      merge(target, p);
    }
  }
  for (const image of k.images ?? []) {
    let used = false;
    for (const container of docs.flatMap(containersOf)) {
      const [, name, tag] = /^([^@:]+(?::\d+\/[^@:]+)?)(?::([^@]+))?$/.exec(container.image) ?? [];
      if (name !== image.name) continue;
      used = true;
      container.image = `${image.newName ?? name}${image.digest ? `@${image.digest}` : `:${image.newTag ?? tag}`}`;
    }
    if (!used) throw new Error(`${relative(ROOT, dir)}: image ${image.name} is used by no container`);
  }
  if (k.namespace) for (const d of docs) if (!CLUSTER_SCOPED.has(d.kind)) (d.metadata ??= {}).namespace = k.namespace;
  return docs;
}

function merge(target: Obj, patch: Obj): void {
  for (const [key, value] of Object.entries(patch)) {
    const current = target[key];
    if (value === null) delete target[key];
    else if (Array.isArray(value) && Array.isArray(current) && value.every((v) => v?.name)) {
      for (const item of value) {
        const same = current.find((c) => c?.name === item.name);
        if (same) merge(same, item);
        else current.push(item);
      }
    } else if (value && typeof value === 'object' && !Array.isArray(value) && current && typeof current === 'object') merge(current, value);
    else target[key] = value;
  }
}

const podSpecOf = (doc: Obj): Obj | undefined => doc.spec?.template?.spec;
const containersOf = (doc: Obj): Obj[] => [...(podSpecOf(doc)?.containers ?? []), ...(podSpecOf(doc)?.initContainers ?? [])];

/** `kubectl kustomize` output when kubectl is installed (it embeds kustomize); undefined otherwise. */
function kubectlKustomize(dir: string): Obj[] | undefined {
  try {
    return (loadAll(execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as Obj[]).filter(
      Boolean,
    );
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
const files = yamlFiles(K8S);
const kustomizations = files.filter((f) => f.endsWith('kustomization.yaml'));
const patchFiles = new Set(
  kustomizations.flatMap((k) => (loadDocs(k)[0].patches ?? []).map((p: Obj) => resolve(dirname(k), p.path as string))),
);
const secretExample = join(BASE, 'secret.example.yaml');
const rendered = { base: kustomize(BASE), overlay: kustomize(OVERLAY) };

const find = (docs: Obj[], kind: string, name: string): Obj => {
  const doc = docs.find((d) => d.kind === kind && d.metadata?.name === name);
  if (!doc) throw new Error(`no ${kind}/${name}`);
  return doc;
};
const deploymentsOf = (docs: Obj[]) => docs.filter((d) => d.kind === 'Deployment');
const workloadsOf = (docs: Obj[]) => docs.filter((d) => d.kind === 'Deployment' || d.kind === 'Job');

/** A setting as the pods see it: a container env entry, else the ConfigMap, else the schema's default. */
function setting(docs: Obj[], container: Obj, name: string): unknown {
  const env = (container.env ?? []).find((e: Obj) => e.name === name);
  if (env) return envSchema.shape[name as keyof typeof envSchema.shape].parse(env.value);
  const data = find(docs, 'ConfigMap', 'tether-config').data ?? {};
  return envSchema.shape[name as keyof typeof envSchema.shape].parse(data[name]);
}

/** Seconds of a container's preStop hook: `sleep N` via exec, or the sleep action. */
function preStopSeconds(container: Obj): number {
  const preStop = container.lifecycle?.preStop;
  if (preStop?.sleep) return Number(preStop.sleep.seconds);
  const command: string[] = preStop?.exec?.command ?? [];
  const sleep = command.join(' ').match(/(?:^|\s|;|&&)(?:\/bin\/)?sleep\s+(\d+)/);
  return sleep ? Number(sleep[1]) : 0;
}

describe('deploy/kubernetes', () => {
  it('has the expected files', () => {
    expect(files.map((f) => relative(K8S, f))).toEqual(
      expect.arrayContaining(['base/kustomization.yaml', 'base/secret.example.yaml', 'overlays/production-example/kustomization.yaml']),
    );
    expect(existsSync(join(K8S, 'README.md'))).toBe(true);
  });

  it.each(files.filter((f) => !kustomizations.includes(f) && !patchFiles.has(f)).map((f) => [relative(K8S, f), f]))(
    '%s: every document is valid against the Kubernetes API schemas, without unknown fields',
    (_name, file) => {
      const docs = loadDocs(file);
      expect(docs.length).toBeGreaterThan(0);
      for (const doc of docs) expect({ doc: idOf(doc), problems: problemsOf(doc) }).toEqual({ doc: idOf(doc), problems: [] });
    },
  );

  it('the rendered base and overlay are valid, complete documents (patches included)', () => {
    for (const docs of [rendered.base, rendered.overlay]) {
      for (const doc of docs) expect({ doc: idOf(doc), problems: problemsOf(doc) }).toEqual({ doc: idOf(doc), problems: [] });
      const ids = docs.map((d) => `${kindOf(d)}/${d.metadata.name}`);
      expect(new Set(ids).size).toBe(ids.length);
    }
    expect(rendered.base.map(idOf).sort()).toEqual(
      expect.arrayContaining([
        'ConfigMap/tether-config',
        'Deployment/tether-api',
        'Deployment/tether-worker',
        'HorizontalPodAutoscaler/tether-api',
        'HorizontalPodAutoscaler/tether-worker',
        'Ingress/tether-api',
        'Job/tether-migrate',
        'Namespace/tether',
        'NetworkPolicy/tether-egress',
        'PodDisruptionBudget/tether-api',
        'PodDisruptionBudget/tether-worker',
        'Service/tether-api',
        'ServiceMonitor/tether',
      ]),
    );
    // Never a Secret with values: it is created out of band (secret.example.yaml documents it).
    expect(rendered.overlay.filter((d) => d.kind === 'Secret')).toEqual([]);
  });

  it('the overlay sets the image of every container, the replica bounds and a few settings', () => {
    const overlay = loadDocs(join(OVERLAY, 'kustomization.yaml'))[0];
    const image = `${overlay.images[0].newName}:${overlay.images[0].newTag}`;
    expect(
      workloadsOf(rendered.overlay)
        .flatMap(containersOf)
        .map((c) => c.image),
    ).toEqual(
      workloadsOf(rendered.overlay)
        .flatMap(containersOf)
        .map(() => image),
    );
    expect(find(rendered.overlay, 'HorizontalPodAutoscaler', 'tether-api').spec).toMatchObject({ minReplicas: 3, maxReplicas: 20 });
    expect(find(rendered.overlay, 'HorizontalPodAutoscaler', 'tether-api').spec.scaleTargetRef.name).toBe('tether-api');
    expect(find(rendered.overlay, 'ConfigMap', 'tether-config').data).toMatchObject({
      DB_POOL_SIZE: '20',
      NODE_ENV: 'production', // from the base, kept by the merge
    });
    for (const doc of rendered.overlay) if (doc.kind !== 'Namespace') expect(doc.metadata.namespace).toBe('tether');
  });

  it('renders exactly as kubectl kustomize does (when kubectl is installed)', () => {
    for (const [dir, ours] of [
      [BASE, rendered.base],
      [OVERLAY, rendered.overlay],
    ] as const) {
      const theirs = kubectlKustomize(dir);
      if (!theirs) return; // no kubectl on this machine: the renderer above is all there is
      const byId = (docs: Obj[]) => Object.fromEntries(docs.map((d) => [`${kindOf(d)}/${d.metadata.name}`, d]));
      expect(byId(ours)).toEqual(byId(theirs));
    }
  });

  it('sets only settings that env.schema.ts declares, with values it accepts', () => {
    const named: string[] = [];
    for (const docs of [rendered.base, rendered.overlay]) {
      const data = find(docs, 'ConfigMap', 'tether-config').data;
      for (const [key, value] of Object.entries(data)) {
        named.push(key);
        const parsed = envSchema.shape[key as keyof typeof envSchema.shape]?.safeParse(value);
        expect({ key, valid: parsed?.success ?? 'not in env.schema.ts' }).toEqual({ key, valid: true });
      }
      for (const container of workloadsOf(docs).flatMap(containersOf)) {
        named.push(...(container.env ?? []).map((e: Obj) => e.name));
        expect((container.envFrom ?? []).map((e: Obj) => e.configMapRef?.name ?? e.secretRef?.name)).toEqual([
          'tether-config',
          'tether-secrets',
        ]);
      }
    }
    // The Secret's keys: the example's, and those its comments list as optional.
    const text = readFileSync(secretExample, 'utf8');
    const secretKeys = [
      ...Object.keys(loadDocs(secretExample)[0].stringData),
      ...[...text.matchAll(/^\s*#\s*([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]),
    ];
    expect(secretKeys).toEqual(expect.arrayContaining(['DATABASE_URL', 'REDIS_URL', 'MOBILE_JWT_SECRET', 'FIREBASE_PRIVATE_KEY']));
    named.push(...secretKeys);
    expect(named.filter((name) => !SCHEMA_KEYS.has(name))).toEqual([]);
    // Together (ConfigMap + the example Secret + each role), the settings pass the app's own checks.
    for (const docs of [rendered.base, rendered.overlay]) {
      for (const role of ['api', 'worker']) {
        const env = { ...find(docs, 'ConfigMap', 'tether-config').data, ...loadDocs(secretExample)[0].stringData, TETHER_ROLE: role };
        expect(parseEnv(env)).toMatchObject({ NODE_ENV: 'production', TETHER_ROLE: role, DB_AUTO_MIGRATE: false });
      }
    }
  });

  it('runs the api and worker roles, the migration with the TypeORM CLI on the compiled data source', () => {
    for (const [name, role] of [
      ['tether-api', 'api'],
      ['tether-worker', 'worker'],
    ]) {
      const [container] = containersOf(find(rendered.base, 'Deployment', name));
      expect(container.env).toEqual([{ name: 'TETHER_ROLE', value: role }]);
      expect(container.command).toBeUndefined(); // the image's CMD: node dist/src/main.js
    }
    const [migrate] = containersOf(find(rendered.base, 'Job', 'tether-migrate'));
    // package.json's migration:run:prod, run by node itself (see the Job's comment).
    const script = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts['migration:run:prod'] as string;
    expect(migrate.command.join(' ')).toBe(`node node_modules/${script.replace(/^typeorm /, 'typeorm/cli.js ')}`);
    expect(readFileSync(join(ROOT, 'docker', 'Dockerfile'), 'utf8')).toMatch(/CMD \["node", "dist\/src\/main.js"\]/);
    expect(find(rendered.base, 'Job', 'tether-migrate').spec.template.spec.restartPolicy).toBe('Never');
    // The README's first step applies `-l 'app.kubernetes.io/component in (config,migration)'`: the
    // settings and the Job, no workload of the new image.
    const first = rendered.overlay.filter((d) => ['config', 'migration'].includes(d.metadata.labels?.['app.kubernetes.io/component']));
    expect(first.map(idOf)).toEqual(expect.arrayContaining(['ConfigMap/tether-config', 'Job/tether-migrate']));
    expect(first.filter((d) => d.kind === 'Deployment')).toEqual([]);
    expect(readFileSync(join(K8S, 'README.md'), 'utf8')).toContain("-l 'app.kubernetes.io/component in (config,migration)'");
  });

  it('probes /health/live and /health/ready on the port the app listens on', () => {
    for (const docs of [rendered.base, rendered.overlay]) {
      for (const deployment of deploymentsOf(docs)) {
        for (const container of containersOf(deployment)) {
          const port = setting(docs, container, 'PORT');
          expect(port).toBe(3000);
          const http = container.ports.find((p: Obj) => p.name === 'http');
          expect(http.containerPort).toBe(port);
          const probePort = (probe: Obj) => (probe.httpGet.port === http.name ? http.containerPort : probe.httpGet.port);
          expect([container.startupProbe, container.livenessProbe, container.readinessProbe].map((p) => p && p.httpGet?.path)).toEqual([
            '/health/live',
            '/health/live',
            '/health/ready',
          ]);
          for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe])
            expect(probePort(probe)).toBe(port);
        }
      }
      const service = find(docs, 'Service', 'tether-api');
      expect(service.spec.ports).toEqual([expect.objectContaining({ name: 'http', port: 3000, targetPort: 'http' })]);
      expect(service.spec.selector).toEqual(find(docs, 'Deployment', 'tether-api').spec.template.metadata.labels);
      expect(find(docs, 'Ingress', 'tether-api').spec.rules[0].http.paths[0].backend.service).toEqual({
        name: 'tether-api',
        port: { name: 'http' },
      });
      const monitor = find(docs, 'ServiceMonitor', 'tether').spec;
      expect(monitor.endpoints).toEqual([expect.objectContaining({ port: 'http', path: '/metrics' })]);
    }
  });

  it('gives pods more time to stop than preStop + SHUTDOWN_GRACE_MS + REALTIME_DRAIN_MS', () => {
    for (const docs of [rendered.base, rendered.overlay]) {
      for (const deployment of deploymentsOf(docs)) {
        const [container] = containersOf(deployment);
        const preStop = preStopSeconds(container);
        expect(preStop).toBeGreaterThanOrEqual(3);
        const needed =
          ((setting(docs, container, 'SHUTDOWN_GRACE_MS') as number) + (setting(docs, container, 'REALTIME_DRAIN_MS') as number)) / 1000;
        const grace = podSpecOf(deployment)!.terminationGracePeriodSeconds;
        expect({ name: deployment.metadata.name, grace, enough: grace > needed + preStop }).toEqual({
          name: deployment.metadata.name,
          grace: expect.any(Number),
          enough: true,
        });
      }
    }
  });

  it('runs every container as the image user, non-root, read-only, without privileges', () => {
    // USER node in the Dockerfile: uid 1000 in the node images.
    expect(readFileSync(join(ROOT, 'docker', 'Dockerfile'), 'utf8')).toMatch(/^USER node$/m);
    for (const workload of workloadsOf(rendered.overlay)) {
      const pod = podSpecOf(workload)!;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod.automountServiceAccountToken).toBe(false);
      for (const container of containersOf(workload)) {
        expect({ name: workload.metadata.name, securityContext: container.securityContext }).toEqual({
          name: workload.metadata.name,
          securityContext: expect.objectContaining({
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
          }),
        });
        expect(container.securityContext.runAsUser ?? pod.securityContext.runAsUser).toBe(1000);
        expect(container.securityContext.runAsNonRoot ?? pod.securityContext.runAsNonRoot).toBe(true);
        // /tmp stays writable on the read-only root filesystem, from an emptyDir.
        const tmp = container.volumeMounts.find((m: Obj) => m.mountPath === '/tmp');
        expect(pod.volumes.find((v: Obj) => v.name === tmp.name).emptyDir).toBeDefined();
        expect(container.resources.requests).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
        expect(container.resources.limits).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
      }
    }
    expect(find(rendered.base, 'Namespace', 'tether').metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  it('autoscales and protects both Deployments, and opens the network only where needed', () => {
    const docs = rendered.base;
    for (const name of ['tether-api', 'tether-worker']) {
      const deployment = find(docs, 'Deployment', name);
      expect(deployment.spec.replicas).toBeUndefined(); // the HPA owns it
      expect(find(docs, 'HorizontalPodAutoscaler', name).spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name });
      expect(find(docs, 'PodDisruptionBudget', name).spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    }
    const ingress = find(docs, 'Ingress', 'tether-api').metadata.annotations;
    expect(ingress).toMatchObject({
      'nginx.ingress.kubernetes.io/proxy-read-timeout': '3600',
      'nginx.ingress.kubernetes.io/proxy-send-timeout': '3600',
      'nginx.ingress.kubernetes.io/affinity': 'cookie',
    });
    const apiIngress = find(docs, 'NetworkPolicy', 'tether-api-ingress').spec;
    expect(apiIngress.ingress.map((rule: Obj) => rule.from[0].namespaceSelector.matchLabels['kubernetes.io/metadata.name'])).toEqual([
      'ingress-nginx',
      'monitoring',
    ]);
    const egressPorts = find(docs, 'NetworkPolicy', 'tether-egress').spec.egress.flatMap((rule: Obj) => rule.ports.map((p: Obj) => p.port));
    expect(egressPorts).toEqual(expect.arrayContaining([53, 5432, 6379, 443]));
  });
});
