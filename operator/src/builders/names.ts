import type { LustreFileSystem, OwnerReference } from '../k8s/objects.ts';

/**
 * Names, labels and addresses of what the operator creates for a filesystem: the one place that says
 * how `demo`'s OSTs are called, so builders, reconcilers and tests agree.
 */

export type Role = 'mgs' | 'mdt' | 'ost';
export const ROLES: readonly Role[] = ['mgs', 'mdt', 'ost'];
/** Teardown stops data first and the registry last, the reverse of how a filesystem comes up. */
export const TEARDOWN_ORDER: readonly Role[] = ['ost', 'mdt', 'mgs'];

export const ROLE_TITLES: Record<Role, string> = { mgs: 'MGS', mdt: 'MDT', ost: 'OST' };

/** Where every target serves /healthz, /readyz and /metrics inside its pod. */
export const TARGET_HTTP_PORT = 8080;
export const TARGET_LUSTRE_PORT_DEFAULT = 988;

export const LABELS = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  managedBy: 'app.kubernetes.io/managed-by',
  partOf: 'app.kubernetes.io/part-of',
  fileSystem: 'kubelustre.io/filesystem',
} as const;

export const MANAGED_BY = 'kubelustre-operator';
const APP_NAME = 'kubelustre-target';

/** What the builders need besides the filesystem: the operator's settings, never per-object state. */
export interface BuildContext {
  /** The target-server image when the spec names none: the operator's own version. */
  defaultImage: string;
  /** The cluster's DNS domain, for the names targets and clients reach each other by. */
  clusterDomain: string;
}

export const DEFAULT_BUILD_CONTEXT: BuildContext = {
  defaultImage: 'ghcr.io/kubelustre/kubelustre:0.1.0',
  clusterDomain: 'cluster.local',
};

export function namespaceOf(fs: LustreFileSystem): string {
  return fs.metadata.namespace ?? 'default';
}

/** `demo-ost`: the StatefulSet, its headless Service and its PodDisruptionBudget. */
export function workloadName(fs: LustreFileSystem, role: Role): string {
  return `${fs.metadata.name}-${role}`;
}

export function configMapName(fs: LustreFileSystem): string {
  return `${fs.metadata.name}-lustre`;
}

/** Labels on everything the operator creates for `fs`; `kubelustre.io/filesystem` finds them all. */
export function fileSystemLabels(fs: LustreFileSystem): Record<string, string> {
  return {
    [LABELS.partOf]: 'kubelustre',
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.instance]: fs.metadata.name,
    [LABELS.fileSystem]: fs.metadata.name,
  };
}

/** What a role's StatefulSet selects its pods by: immutable once the StatefulSet exists. */
export function selectorLabels(fs: LustreFileSystem, role: Role): Record<string, string> {
  return { [LABELS.name]: APP_NAME, [LABELS.instance]: fs.metadata.name, [LABELS.component]: role };
}

export function roleLabels(fs: LustreFileSystem, role: Role): Record<string, string> {
  return { ...fileSystemLabels(fs), ...selectorLabels(fs, role) };
}

/** `key=value,...` for list calls. */
export function labelSelector(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** Makes `fs` the controller of what it owns, so garbage collection removes leftovers with it. */
export function ownerReference(fs: LustreFileSystem): OwnerReference {
  return {
    apiVersion: fs.apiVersion,
    kind: fs.kind,
    name: fs.metadata.name,
    uid: fs.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function targetPort(fs: LustreFileSystem): number {
  return fs.spec.targetPort ?? TARGET_LUSTRE_PORT_DEFAULT;
}

/** The MGS's DNS name: its headless Service, which resolves to the one MGS pod. */
export function mgsHost(fs: LustreFileSystem, ctx: BuildContext): string {
  return `${workloadName(fs, 'mgs')}.${namespaceOf(fs)}.svc.${ctx.clusterDomain}`;
}

export function mgsAddress(fs: LustreFileSystem, ctx: BuildContext): string {
  return `${mgsHost(fs, ctx)}:${targetPort(fs)}`;
}

/** What clients mount: `HOST:PORT:/fsname`, Lustre's `mgsnode:/fsname` with our port. */
export function mountTarget(fs: LustreFileSystem, ctx: BuildContext): string {
  return `${mgsAddress(fs, ctx)}:/${fs.spec.fsName}`;
}

/** How many targets of `role` the spec asks for. */
export function specCount(fs: LustreFileSystem, role: Role): number {
  if (role === 'mgs') return 1;
  return role === 'mdt' ? fs.spec.mdts.count : fs.spec.osts.count;
}
