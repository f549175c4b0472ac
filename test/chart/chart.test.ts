/**
 * The Helm chart (charts/kubelustre): helm lint, helm template with default values and with every
 * optional part, strict validation of what it renders by kubeconform against the JSON schemas of a
 * real kube-apiserver and of our CRDs, the CRDs it ships, and the fields that make it work on a
 * cluster (a privileged node plugin with Bidirectional propagation, the sidecars' arguments, RBAC).
 * helm, kubeconform and the Kubernetes schemas come from scripts/build-helm-tools.sh.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { parseVolumeParameters } from '../../csi-driver/src/parameters.ts';
import { DEFAULT_BUILD_CONTEXT, mountTarget } from '../../operator/src/builders/names.ts';
import { headlessService } from '../../operator/src/builders/service.ts';
import type { LustreFileSystem } from '../../operator/src/k8s/objects.ts';
import { crdSchemas, writeSchemas } from './json-schemas.ts';

const execFileAsync = promisify(execFile);
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CHART = join(REPO, 'charts/kubelustre');
const ALL_OPTIONAL = fileURLToPath(new URL('./all-optional.values.yaml', import.meta.url));
const RELEASE = 'kl';
const NAMESPACE = 'kubelustre';
/** Rendering, linting and validating take about a second each; this bounds a hung tool. */
const TOOL_TIMEOUT_MS = 60_000;
/** Kinds with no schema to be had here (Prometheus Operator's CRDs are not ours to build): named, never a blanket skip. */
const KINDS_WITHOUT_SCHEMA = ['ServiceMonitor'];

interface Tools {
  helm: string;
  kubeconform: string;
  schemas: string;
  /** The Kubernetes version the schemas are of, e.g. 1.36.3: helm renders for the same one. */
  kubeVersion: string;
}

/** The cached tools, or an error that says how to get them (never a skip: a missing tool is a failure). */
function findTools(): Tools | Error {
  const r = spawnSync('bash', [join(REPO, 'scripts/build-helm-tools.sh'), '--check'], {
    encoding: 'utf8',
    timeout: TOOL_TIMEOUT_MS,
  });
  const paths = Object.fromEntries(
    r.stdout
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  if (r.status !== 0 || !paths.helm || !paths.kubeconform || !paths.schemas) {
    return new Error(
      `the chart tests need helm, kubeconform and the Kubernetes JSON schemas, which are not built:\n${r.stderr}` +
        'Run `bash scripts/build-helm-tools.sh` once (it builds them from the Go module proxy into ~/.cache/kubelustre).',
    );
  }
  return {
    helm: paths.helm,
    kubeconform: paths.kubeconform,
    schemas: paths.schemas,
    kubeVersion: basename(paths.schemas).replace(/^v/, ''),
  };
}

const found = findTools();
function tools(): Tools {
  if (found instanceof Error) throw found;
  return found;
}

/** Runs a tool; a failure carries its whole output. */
async function run(file: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFileAsync(file, args, { timeout: TOOL_TIMEOUT_MS, maxBuffer: 64 << 20, cwd: REPO });
  } catch (e) {
    const err = e as Error & { stdout?: string; stderr?: string };
    throw new Error(
      `${basename(file)} ${args.join(' ')} failed:\n${err.stdout ?? ''}${err.stderr ?? err.message}`,
    );
  }
}

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** `helm template` of the chart with `valuesFiles`: its text and its objects. */
async function render(valuesFiles: string[]): Promise<{ text: string; objects: K8sObject[] }> {
  const t = tools();
  const args = ['template', RELEASE, CHART, '--namespace', NAMESPACE, '--kube-version', t.kubeVersion];
  args.push('--include-crds', ...valuesFiles.flatMap((f) => ['--values', f]));
  const { stdout } = await run(t.helm, args);
  const objects = parseAllDocuments(stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
  return { text: stdout, objects };
}

function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o)
    throw new Error(`no ${kind} ${name} in ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
}

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  securityContext?: Record<string, unknown>;
  volumeMounts?: Array<{ name: string; mountPath: string; mountPropagation?: string; readOnly?: boolean }>;
  ports?: Array<{ name: string; containerPort: number }>;
}

interface PodSpec {
  containers: Container[];
  volumes?: Array<{ name: string; hostPath?: { path: string; type?: string } }>;
  securityContext?: Record<string, unknown>;
  automountServiceAccountToken?: boolean;
}

function podSpec(workload: K8sObject): PodSpec {
  return (workload.spec as { template: { spec: PodSpec } }).template.spec;
}

function container(workload: K8sObject, name: string): Container {
  const c = podSpec(workload).containers.find((x) => x.name === name);
  if (!c) throw new Error(`${workload.kind} ${workload.metadata.name} has no container ${name}`);
  return c;
}

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** `group/resource` → verbs (the union over the rules that name it). */
function verbsByResource(role: K8sObject): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const rule of role.rules as Rule[]) {
    for (const group of rule.apiGroups) {
      for (const resource of rule.resources) {
        const key = group === '' ? resource : `${group}/${resource}`;
        out.set(key, [...(out.get(key) ?? []), ...rule.verbs].sort());
      }
    }
  }
  return out;
}

const NAME = `${RELEASE}-kubelustre`;
const IMAGE = `ghcr.io/kubelustre/kubelustre:${(parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as { appVersion: string }).appVersion}`;
const PLUGIN_DIR = '/var/lib/kubelet/plugins/csi.kubelustre.io';

describe('charts/kubelustre', () => {
  let defaults: { text: string; objects: K8sObject[] };
  let all: { text: string; objects: K8sObject[] };
  let workDir: string;

  beforeAll(async () => {
    if (found instanceof Error) return; // each test reports it
    workDir = mkdtempSync(join(tmpdir(), 'kubelustre-chart-'));
    [defaults, all] = await Promise.all([render([]), render([ALL_OPTIONAL])]);
  }, 2 * TOOL_TIMEOUT_MS);
  afterAll(() => {
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('passes helm lint --strict, with default values and with every optional part', async () => {
    const t = tools();
    for (const values of [[], ['--values', ALL_OPTIONAL]]) {
      const { stdout } = await run(t.helm, ['lint', '--strict', CHART, '--namespace', NAMESPACE, ...values]);
      expect(stdout).toContain('0 chart(s) failed');
      expect(stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    }
  });

  it('renders the operator and the CSI driver by default, and the optional parts only when enabled', () => {
    tools();
    const kinds = (objects: K8sObject[]) => new Set(objects.map((o) => o.kind));
    for (const kind of [
      'CustomResourceDefinition',
      'Deployment',
      'DaemonSet',
      'CSIDriver',
      'ClusterRole',
      'Role',
    ]) {
      expect(kinds(defaults.objects)).toContain(kind);
    }
    for (const kind of ['StorageClass', 'LustreFileSystem', 'ServiceMonitor', 'Secret', 'ConfigMap']) {
      expect(kinds(defaults.objects)).not.toContain(kind);
      expect(kinds(all.objects)).toContain(kind);
    }
    for (const sidecar of ['csi-provisioner', 'csi-resizer']) {
      expect(
        container(find(defaults.objects, 'Deployment', `${NAME}-csi-controller`), sidecar),
      ).toBeDefined();
    }
  });

  describe('kubeconform', () => {
    /** Validates `files` strictly; every resource's status, and the whole report for messages. */
    async function validate(files: string[]): Promise<{ statuses: Map<string, string>; report: string }> {
      const t = tools();
      const crdDir = join(workDir, 'crd-schemas');
      const crds = readdirSync(join(REPO, 'crds')).map((f) =>
        parse(readFileSync(join(REPO, 'crds', f), 'utf8')),
      );
      writeSchemas(crdDir, crdSchemas(crds));
      const args = [
        '-strict',
        '-summary',
        '-verbose',
        '-output',
        'json',
        '-kubernetes-version',
        t.kubeVersion,
      ];
      args.push('-schema-location', `${t.schemas}/{{ .ResourceKind }}{{ .KindSuffix }}.json`);
      args.push(
        '-schema-location',
        `${crdDir}/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json`,
      );
      args.push('-skip', KINDS_WITHOUT_SCHEMA.join(','), ...files);
      // Exit status 1 means invalid resources: read the report either way.
      const r = await execFileAsync(t.kubeconform, args, {
        timeout: TOOL_TIMEOUT_MS,
        maxBuffer: 64 << 20,
      }).catch((e: { stdout?: string; stderr?: string }) => {
        if (!e.stdout) throw new Error(`kubeconform failed: ${e.stderr}`);
        return { stdout: e.stdout };
      });
      const report = JSON.parse(r.stdout) as {
        resources: Array<{ filename: string; kind: string; name: string; status: string }>;
      };
      const statuses = new Map(
        report.resources.map((x) => [`${basename(x.filename)} ${x.kind}/${x.name}`, x.status]),
      );
      return { statuses, report: r.stdout };
    }

    it('finds every rendered object and every example valid, skipping only kinds it has no schema for', async () => {
      tools();
      const files = ['defaults.yaml', 'all-optional.yaml'].map((f) => join(workDir, f));
      writeFileSync(files[0]!, defaults.text);
      writeFileSync(files[1]!, all.text);
      const examples = readdirSync(join(REPO, 'examples')).map((f) => join(REPO, 'examples', f));
      const { statuses, report } = await validate([...files, ...examples]);
      expect(statuses.size, report).toBe(defaults.objects.length + all.objects.length + examples.length);
      for (const [resource, status] of statuses) {
        const kind = resource.split(' ')[1]!.split('/')[0]!;
        const expected = KINDS_WITHOUT_SCHEMA.includes(kind) ? 'statusSkipped' : 'statusValid';
        expect(status, `${resource}:\n${report}`).toBe(expected);
      }
    });

    it('rejects a misspelt field and a wrong type, so a pass means something', async () => {
      tools();
      const bad = join(workDir, 'bad.yaml');
      const deployment = find(defaults.objects, 'Deployment', `${NAME}-operator`);
      const typo = structuredClone(deployment);
      Object.assign(container(typo, 'operator'), { imagePulPolicy: 'Always' });
      const fs = structuredClone(find(all.objects, 'LustreFileSystem', 'demo'));
      (fs.spec as { osts: { count: unknown } }).osts.count = 'two';
      writeFileSync(bad, [typo, fs].map((o) => JSON.stringify(o)).join('\n---\n'));
      const { statuses } = await validate([bad]);
      expect([...statuses.values()]).toEqual(['statusInvalid', 'statusInvalid']);
    });
  });

  it('ships crds/ unchanged (copy them with: cp crds/*.yaml charts/kubelustre/crds/)', () => {
    const ours = readdirSync(join(REPO, 'crds')).sort();
    expect(readdirSync(join(CHART, 'crds')).sort()).toEqual(ours);
    for (const file of ours) {
      const shipped = readFileSync(join(CHART, 'crds', file), 'utf8');
      expect(
        shipped === readFileSync(join(REPO, 'crds', file), 'utf8'),
        `charts/kubelustre/crds/${file} differs from crds/${file}: cp crds/*.yaml charts/kubelustre/crds/`,
      ).toBe(true);
    }
  });

  describe('what makes it work on a cluster', () => {
    it('runs the node plugin privileged, as root, with Bidirectional propagation and /dev/fuse', () => {
      tools();
      const node = find(all.objects, 'DaemonSet', `${NAME}-csi-node`);
      const plugin = container(node, 'kubelustre-csi');
      expect(plugin.securityContext).toMatchObject({ privileged: true, runAsUser: 0 });
      expect(plugin.volumeMounts).toContainEqual({
        name: 'kubelet-dir',
        mountPath: '/var/lib/kubelet',
        mountPropagation: 'Bidirectional',
      });
      expect(plugin.volumeMounts).toContainEqual({ name: 'dev-fuse', mountPath: '/dev/fuse' });
      const volumes = podSpec(node).volumes ?? [];
      expect(volumes).toContainEqual({
        name: 'dev-fuse',
        hostPath: { path: '/dev/fuse', type: 'CharDevice' },
      });
      expect(volumes).toContainEqual({
        name: 'kubelet-dir',
        hostPath: { path: '/var/lib/kubelet', type: 'Directory' },
      });
      expect(plugin.args).toEqual(
        expect.arrayContaining([
          '--mode=node',
          `--endpoint=unix://${PLUGIN_DIR}/csi.sock`,
          '--node-id=$(NODE_NAME)',
          `--state-dir=${PLUGIN_DIR}`,
        ]),
      );
      // Only the plugin container is privileged and holds an API token (for PCCClass ConfigMaps).
      for (const sidecar of ['node-driver-registrar', 'liveness-probe']) {
        expect(container(node, sidecar).securityContext).toMatchObject({ allowPrivilegeEscalation: false });
        expect(container(node, sidecar).volumeMounts?.map((m) => m.name)).not.toContain('api-token');
      }
      expect(podSpec(node).automountServiceAccountToken).toBe(false);
      expect(plugin.volumeMounts).toContainEqual({
        name: 'api-token',
        mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
        readOnly: true,
      });
    });

    it('registers the node plugin socket where the plugin serves it, and probes it', () => {
      tools();
      const node = find(all.objects, 'DaemonSet', `${NAME}-csi-node`);
      expect(container(node, 'node-driver-registrar').args).toEqual(
        expect.arrayContaining([
          '--csi-address=/csi/csi.sock',
          `--kubelet-registration-path=${PLUGIN_DIR}/csi.sock`,
        ]),
      );
      expect(podSpec(node).volumes).toContainEqual({
        name: 'plugin-dir',
        hostPath: { path: PLUGIN_DIR, type: 'DirectoryOrCreate' },
      });
      expect(container(node, 'liveness-probe').args).toEqual(
        expect.arrayContaining(['--csi-address=/csi/csi.sock', '--health-port=9808']),
      );
      expect(container(node, 'kubelustre-csi').ports).toContainEqual(
        expect.objectContaining({ name: 'healthz', containerPort: 9808 }),
      );
    });

    it("serves the node plugin's metrics on a named port, behind a headless Service it is monitored by", () => {
      tools();
      const node = find(all.objects, 'DaemonSet', `${NAME}-csi-node`);
      const plugin = container(node, 'kubelustre-csi');
      expect(plugin.args).toContain('--metrics-address=0.0.0.0:9809');
      expect(plugin.ports).toContainEqual({ name: 'metrics', containerPort: 9809, protocol: 'TCP' });
      const service = find(defaults.objects, 'Service', `${NAME}-csi-node`);
      const spec = service.spec as {
        clusterIP: string;
        selector: Record<string, string>;
        ports: Array<{ name: string; targetPort: string }>;
      };
      expect(spec.clusterIP).toBe('None');
      const podLabels = (node.spec as { template: { metadata: { labels: Record<string, string> } } }).template
        .metadata.labels;
      expect(podLabels).toMatchObject(spec.selector);
      expect(spec.ports).toContainEqual(expect.objectContaining({ name: 'metrics', targetPort: 'metrics' }));
      // With monitoring on, a ServiceMonitor selects that Service (and only it) by its port's name.
      expect(defaults.objects.some((o) => o.kind === 'ServiceMonitor')).toBe(false);
      const monitor = find(all.objects, 'ServiceMonitor', `${NAME}-csi-node`);
      const { selector, endpoints } = monitor.spec as {
        selector: { matchLabels: Record<string, string> };
        endpoints: Array<{ port: string; path: string }>;
      };
      const services = all.objects.filter((o) => o.kind === 'Service');
      const selected = services.filter((o) =>
        Object.entries(selector.matchLabels).every(([k, v]) => o.metadata.labels?.[k] === v),
      );
      expect(selected.map((o) => o.metadata.name)).toEqual([`${NAME}-csi-node`]);
      expect(endpoints).toEqual([expect.objectContaining({ port: 'metrics', path: '/metrics' })]);
      expect(monitor.metadata.labels).toMatchObject({ release: 'prometheus' });
    });

    it('leaves the node plugin metrics out entirely when csi.node.metrics.enabled is false', async () => {
      tools();
      const off = join(workDir, 'metrics-off.values.yaml');
      writeFileSync(off, 'csi:\n  node:\n    metrics:\n      enabled: false\n');
      const { objects } = await render([ALL_OPTIONAL, off]);
      const plugin = container(find(objects, 'DaemonSet', `${NAME}-csi-node`), 'kubelustre-csi');
      expect(plugin.args?.some((a) => a.startsWith('--metrics-address'))).toBe(false);
      expect(plugin.ports?.map((p) => p.name)).toEqual(['healthz']);
      const names = objects.map((o) => `${o.kind}/${o.metadata.name}`);
      expect(names).not.toContain(`Service/${NAME}-csi-node`);
      expect(names).not.toContain(`ServiceMonitor/${NAME}-csi-node`);
      expect(names).toContain(`ServiceMonitor/${NAME}-targets`);
    });

    it('gives the CSI controller its sidecars, sharing one socket, unprivileged', () => {
      tools();
      const controller = find(all.objects, 'Deployment', `${NAME}-csi-controller`);
      expect(container(controller, 'kubelustre-csi').args).toEqual(
        expect.arrayContaining([
          '--mode=controller',
          '--endpoint=unix:///csi/csi.sock',
          '--key-file=/etc/kubelustre/key/key',
        ]),
      );
      for (const sidecar of ['csi-provisioner', 'csi-resizer']) {
        expect(container(controller, sidecar).args).toEqual(
          expect.arrayContaining([
            '--csi-address=/csi/csi.sock',
            '--leader-election',
            `--leader-election-namespace=${NAMESPACE}`,
          ]),
        );
      }
      expect(container(controller, 'csi-provisioner').args).toContain('--extra-create-metadata');
      expect(podSpec(controller).securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
    });

    it('declares the CSIDriver as the plugin names itself: nothing to attach, no pod info', () => {
      tools();
      const driver = find(defaults.objects, 'CSIDriver', 'csi.kubelustre.io');
      expect(driver.spec).toEqual({
        attachRequired: false,
        podInfoOnMount: false,
        fsGroupPolicy: 'None',
        volumeLifecycleModes: ['Persistent'],
      });
    });

    it('runs every kubelustre container from the chart image by a name the Dockerfile puts on PATH', () => {
      tools();
      const dockerfile = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
      const wrappers = new Set(
        [...dockerfile.matchAll(/\b(kubelustre(?:-[a-z]+)?):[a-z-]+\/src\/[\w/-]+\.ts/g)].map((m) => m[1]),
      );
      // kubelustre-target is what the operator's StatefulSets run (operator/src/builders/stateful-set.ts).
      expect([...wrappers].sort()).toEqual([
        'kubelustre',
        'kubelustre-csi',
        'kubelustre-operator',
        'kubelustre-target',
      ]);
      const ours = all.objects
        .filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet')
        .flatMap((o) => podSpec(o).containers)
        .filter((c) => c.image === IMAGE);
      expect(ours.map((c) => c.name).sort()).toEqual(['kubelustre-csi', 'kubelustre-csi', 'operator']);
      for (const c of ours) expect(wrappers).toContain(c.command?.[0]);
      const operator = container(find(all.objects, 'Deployment', `${NAME}-operator`), 'operator');
      expect(operator.args).toContain(`--target-image=${IMAGE}`);
    });

    it('grants the operator what it touches, and Secrets only to read one by name', () => {
      tools();
      const verbs = verbsByResource(find(defaults.objects, 'ClusterRole', `${NAME}-operator`));
      for (const kind of ['lustrefilesystems', 'ostpools', 'layoutpolicies', 'pccclasses']) {
        expect(verbs.get(`kubelustre.io/${kind}`)).toEqual(['get', 'list', 'patch', 'watch']);
        expect(verbs.get(`kubelustre.io/${kind}/status`)).toEqual(['get', 'patch', 'update']);
      }
      expect(verbs.get('kubelustre.io/lustrefilesystems/finalizers')).toEqual(['update']);
      const owned = ['create', 'delete', 'get', 'list', 'patch', 'watch'];
      for (const r of ['apps/statefulsets', 'services', 'configmaps', 'policy/poddisruptionbudgets']) {
        expect(verbs.get(r)).toEqual(owned);
      }
      expect(verbs.get('secrets')).toEqual(['get']);
      expect(verbs.get('persistentvolumeclaims')).toEqual(['deletecollection', 'list']);
      expect(verbs.get('events.k8s.io/events')).toEqual(['create', 'patch']);
      const election = find(defaults.objects, 'Role', `${NAME}-operator-leader-election`);
      expect(election.metadata.namespace).toBe(NAMESPACE);
      expect(election.rules).toEqual([
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          resourceNames: ['kubelustre-operator'],
          verbs: ['get', 'update'],
        },
      ]);
    });

    it('grants the CSI sidecars and the driver what they need', () => {
      tools();
      const base = verbsByResource(find(defaults.objects, 'ClusterRole', `${NAME}-csi-controller`));
      expect(base.get('persistentvolumes')).toEqual(['create', 'delete', 'get', 'list', 'patch', 'watch']);
      expect(base.get('persistentvolumeclaims')).toEqual(['get', 'list', 'update', 'watch']);
      expect(base.get('storage.k8s.io/storageclasses')).toEqual(['get', 'list', 'watch']);
      expect(base.get('secrets')).toEqual(['get']);
      expect(base.get('kubelustre.io/lustrefilesystems')).toEqual(['get']);
      expect(base.get('kubelustre.io/layoutpolicies')).toEqual(['get']);
      expect(base.get('kubelustre.io/pccclasses')).toEqual(['get']);
      expect(base.get('persistentvolumeclaims/status')).toEqual(['patch']);
      // The node plugin: the PCCClass ConfigMaps of the release namespace and its own Node's labels.
      expect(verbsByResource(find(defaults.objects, 'Role', `${NAME}-csi-node`)).get('configmaps')).toEqual([
        'get',
      ]);
      expect(verbsByResource(find(defaults.objects, 'ClusterRole', `${NAME}-csi-node`)).get('nodes')).toEqual(
        ['get'],
      );
    });

    it('makes a StorageClass the driver accepts, pointing at the example filesystem and its key', () => {
      tools();
      const sc = find(all.objects, 'StorageClass', 'kubelustre');
      const parameters = sc.parameters as Record<string, string>;
      const fs = find(all.objects, 'LustreFileSystem', 'demo') as unknown as LustreFileSystem;
      const volumes = parseVolumeParameters(parameters);
      expect(`${volumes.mgs}:/${volumes.fsName}`).toBe(mountTarget(fs, DEFAULT_BUILD_CONTEXT));
      expect(volumes.layout?.components.every((c) => c.pattern === 'mdt' || c.pool === 'fast')).toBe(true);
      expect(parameters).toMatchObject({
        'csi.storage.k8s.io/provisioner-secret-name': 'demo-shared-key',
        'csi.storage.k8s.io/node-stage-secret-name': 'demo-shared-key',
        'csi.storage.k8s.io/node-stage-secret-namespace': NAMESPACE,
      });
      expect(fs.spec.sharedKeySecretRef.name).toBe('demo-shared-key');
      expect(sc.provisioner).toBe('csi.kubelustre.io');
    });

    it('points the targets ServiceMonitor at the Services the operator makes', () => {
      tools();
      const monitor = find(all.objects, 'ServiceMonitor', `${NAME}-targets`);
      const { matchLabels } = (monitor.spec as { selector: { matchLabels: Record<string, string> } })
        .selector;
      const fs = find(all.objects, 'LustreFileSystem', 'demo') as unknown as LustreFileSystem;
      const service = headlessService(fs, 'ost');
      expect(service.metadata.labels).toMatchObject(matchLabels);
      const ports = (service.spec as { ports: Array<{ name: string }> }).ports.map((p) => p.name);
      const endpoints = (monitor.spec as { endpoints: Array<{ port: string }> }).endpoints;
      expect(ports).toContain(endpoints[0]!.port);
    });

    it('charts in the Grafana dashboard only metrics the programs export', () => {
      tools();
      const cm = find(all.objects, 'ConfigMap', `${NAME}-dashboard`);
      const dashboard = (cm.data as Record<string, string>)['kubelustre.json']!;
      expect(() => JSON.parse(dashboard)).not.toThrow();
      const charted = new Set(
        [...dashboard.matchAll(/kubelustre_[a-z_]+/g)].map((m) => m[0].replace(/_bucket$/, '')),
      );
      const exported = new Set<string>();
      // The mount processes' PCC metrics reach Prometheus through the CSI node plugin.
      for (const dir of ['target-server/src', 'operator/src', 'client/src/mount', 'csi-driver/src']) {
        for (const file of readdirSync(join(REPO, dir), { recursive: true, encoding: 'utf8' })) {
          if (!file.endsWith('.ts') || file.endsWith('.test.ts')) continue;
          const source = readFileSync(join(REPO, dir, file), 'utf8');
          for (const m of source.matchAll(/'(kubelustre_[a-z_]+)'/g)) exported.add(m[1]!);
        }
      }
      expect(charted.size).toBeGreaterThan(10);
      for (const pcc of ['hits', 'misses', 'bytes_from_cache', 'evictions'])
        expect(charted).toContain(`kubelustre_pcc_${pcc}_total`);
      expect(charted).toContain('kubelustre_pcc_cache_bytes');
      for (const metric of charted)
        expect(exported, `${metric} is charted but no program exports it`).toContain(metric);
    });
  });
});
