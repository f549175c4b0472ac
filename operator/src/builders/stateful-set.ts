import type { LustreFileSystem, StatefulSet } from '../k8s/objects.ts';
import {
  type BuildContext,
  DEFAULT_BUILD_CONTEXT,
  LABELS,
  mgsAddress,
  namespaceOf,
  ownerReference,
  type Role,
  roleLabels,
  selectorLabels,
  specCount,
  TARGET_HTTP_PORT,
  targetPort,
  workloadName,
} from './names.ts';

/**
 * A role's StatefulSet: one pod per target, the pod's ordinal is the target's index, each pod with its
 * own PersistentVolumeClaim (the target's storage) that survives the pod.
 */

const DATA_DIR = '/data';
const KEY_DIR = '/etc/kubelustre/key';
const KEY_FILE = 'key';
/** A target stops within 15 s (target-server's SHUTDOWN_MS_MAX); the rest is slack for the kubelet. */
const TERMINATION_GRACE_S = 30;
/** An MDT replays its journal and an OST checks its objects at start: up to 10 minutes before /healthz. */
const STARTUP_PROBE_PERIOD_S = 5;
const STARTUP_PROBE_FAILURES_MAX = 120;
/** A distroless-style unprivileged user; fsGroup makes the volume writable by it. */
const TARGET_UID = 65532;
/** Ports below this need CAP_NET_BIND_SERVICE unless the network namespace says otherwise. */
const PRIVILEGED_PORT_END = 1024;

export function mgsStatefulSet(fs: LustreFileSystem, ctx: BuildContext = DEFAULT_BUILD_CONTEXT): StatefulSet {
  const args = ['--role', 'mgs', '--fsname', fs.spec.fsName, ...commonArgs(fs)];
  return statefulSet(fs, 'mgs', 1, args, ctx);
}

/**
 * The MDTs' or OSTs' StatefulSet. `replicas` is normally the spec's count; the reconciler passes more
 * when it refuses to shrink a StatefulSet that already has more targets.
 */
export function targetStatefulSet(
  fs: LustreFileSystem,
  role: 'mdt' | 'ost',
  ctx: BuildContext = DEFAULT_BUILD_CONTEXT,
  replicas = specCount(fs, role),
): StatefulSet {
  // Kubernetes expands $(VAR) in args: the index is the pod's ordinal, the address its stable DNS name.
  const advertise = `$(POD_NAME).${workloadName(fs, role)}.${namespaceOf(fs)}.svc.${ctx.clusterDomain}`;
  const args = ['--role', role, '--index', '$(POD_INDEX)', '--mgs', mgsAddress(fs, ctx), ...commonArgs(fs)];
  args.push('--advertise', `${advertise}:${targetPort(fs)}`);
  return statefulSet(fs, role, replicas, args, ctx);
}

function commonArgs(fs: LustreFileSystem): string[] {
  return [
    '--data',
    DATA_DIR,
    '--listen',
    `0.0.0.0:${targetPort(fs)}`,
    '--key-file',
    `${KEY_DIR}/${KEY_FILE}`,
    '--http',
    `0.0.0.0:${TARGET_HTTP_PORT}`,
  ];
}

function statefulSet(
  fs: LustreFileSystem,
  role: Role,
  replicas: number,
  args: string[],
  ctx: BuildContext,
): StatefulSet {
  const labels = roleLabels(fs, role);
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: {
      name: workloadName(fs, role),
      namespace: namespaceOf(fs),
      labels,
      ownerReferences: [ownerReference(fs)],
    },
    spec: {
      replicas,
      serviceName: workloadName(fs, role),
      // Targets find each other through the MGS, in any order: no reason to start them one by one.
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: selectorLabels(fs, role) },
      updateStrategy: { type: 'RollingUpdate' },
      persistentVolumeClaimRetentionPolicy: {
        whenDeleted: fs.spec.reclaimPolicy === 'Delete' ? 'Delete' : 'Retain',
        // Scaling down is refused anyway; a claim left by a lost pod must never be dropped.
        whenScaled: 'Retain',
      },
      template: { metadata: { labels }, spec: podSpec(fs, role, args, ctx) },
      volumeClaimTemplates: [volumeClaimTemplate(fs, role)],
    },
  };
}

function roleSpec(fs: LustreFileSystem, role: Role) {
  return role === 'mgs' ? fs.spec.mgs : role === 'mdt' ? fs.spec.mdts : fs.spec.osts;
}

function podSpec(fs: LustreFileSystem, role: Role, args: string[], ctx: BuildContext) {
  const spec = roleSpec(fs, role);
  return {
    terminationGracePeriodSeconds: TERMINATION_GRACE_S,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: TARGET_UID,
      runAsGroup: TARGET_UID,
      fsGroup: TARGET_UID,
      seccompProfile: { type: 'RuntimeDefault' },
      ...unprivilegedPortSysctl(targetPort(fs)),
    },
    ...(spec.nodeSelector && { nodeSelector: spec.nodeSelector }),
    ...(spec.tolerations && { tolerations: spec.tolerations }),
    affinity: spec.affinity ?? spreadAcrossNodes(fs, role),
    containers: [container(fs, role, args, ctx)],
    volumes: [
      {
        name: 'shared-key',
        secret: {
          secretName: fs.spec.sharedKeySecretRef.name,
          items: [{ key: fs.spec.sharedKeySecretRef.key ?? 'key', path: KEY_FILE }],
          defaultMode: 0o400,
        },
      },
    ],
  };
}

function container(fs: LustreFileSystem, role: Role, args: string[], ctx: BuildContext) {
  const probe = (path: string) => ({ httpGet: { path, port: 'http' } });
  return {
    name: 'target',
    image: fs.spec.image ?? ctx.defaultImage,
    command: ['kubelustre-target'],
    args,
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      ...(role === 'mgs'
        ? []
        : [
            {
              name: 'POD_INDEX',
              valueFrom: { fieldRef: { fieldPath: `metadata.labels['apps.kubernetes.io/pod-index']` } },
            },
          ]),
    ],
    ports: [
      { name: 'lustre', containerPort: targetPort(fs), protocol: 'TCP' },
      { name: 'http', containerPort: TARGET_HTTP_PORT, protocol: 'TCP' },
    ],
    startupProbe: {
      ...probe('/healthz'),
      periodSeconds: STARTUP_PROBE_PERIOD_S,
      failureThreshold: STARTUP_PROBE_FAILURES_MAX,
    },
    livenessProbe: { ...probe('/healthz'), periodSeconds: 10, failureThreshold: 6 },
    readinessProbe: { ...probe('/readyz'), periodSeconds: 5, failureThreshold: 2 },
    ...(roleSpec(fs, role).resources && { resources: roleSpec(fs, role).resources }),
    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
    volumeMounts: [
      { name: 'data', mountPath: DATA_DIR },
      { name: 'shared-key', mountPath: KEY_DIR, readOnly: true },
    ],
  };
}

/**
 * Lustre's port, 988, bound by an unprivileged user with no capabilities: the pod lowers its own
 * network namespace's privileged-port boundary, a sysctl Kubernetes counts as safe (containerd 2 sets
 * it to 0 by itself; containerd 1.x and CRI-O leave the kernel's 1024).
 */
function unprivilegedPortSysctl(port: number) {
  if (port >= PRIVILEGED_PORT_END) return {};
  return { sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: String(port) }] };
}

/**
 * Targets of one role prefer distinct nodes: two OSTs on one node share its disks and its failure, so
 * striping over them buys neither bandwidth nor availability. Preferred, not required, so a small
 * cluster still runs more targets than it has nodes. An `affinity` in the spec replaces this.
 */
function spreadAcrossNodes(fs: LustreFileSystem, role: Role) {
  return {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        {
          weight: 100,
          podAffinityTerm: {
            topologyKey: 'kubernetes.io/hostname',
            labelSelector: { matchLabels: selectorLabels(fs, role) },
          },
        },
      ],
    },
  };
}

function volumeClaimTemplate(fs: LustreFileSystem, role: Role) {
  const { storage } = roleSpec(fs, role);
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    // The labels let teardown find the claims (reclaimPolicy: Delete) without knowing the ordinals.
    metadata: {
      name: 'data',
      labels: { ...selectorLabels(fs, role), [LABELS.fileSystem]: fs.metadata.name },
    },
    spec: {
      accessModes: ['ReadWriteOnce'],
      ...(storage.storageClassName !== undefined && { storageClassName: storage.storageClassName }),
      resources: { requests: { storage: storage.size } },
    },
  };
}
