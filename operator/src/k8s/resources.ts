import { API_GROUP, API_VERSION } from '../crds/definition.ts';

/** Where a kind lives in the REST API. */
export interface Resource {
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

const ours = (kind: string, plural: string, namespaced = true): Resource => ({
  apiVersion: `${API_GROUP}/${API_VERSION}`,
  kind,
  plural,
  namespaced,
});

export const Resources = {
  LustreFileSystem: ours('LustreFileSystem', 'lustrefilesystems'),
  OSTPool: ours('OSTPool', 'ostpools'),
  LayoutPolicy: ours('LayoutPolicy', 'layoutpolicies'),
  PCCClass: ours('PCCClass', 'pccclasses', false),
  StatefulSet: { apiVersion: 'apps/v1', kind: 'StatefulSet', plural: 'statefulsets', namespaced: true },
  Service: { apiVersion: 'v1', kind: 'Service', plural: 'services', namespaced: true },
  ConfigMap: { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
  Secret: { apiVersion: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true },
  Pod: { apiVersion: 'v1', kind: 'Pod', plural: 'pods', namespaced: true },
  PersistentVolumeClaim: {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    plural: 'persistentvolumeclaims',
    namespaced: true,
  },
  PodDisruptionBudget: {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    plural: 'poddisruptionbudgets',
    namespaced: true,
  },
  Lease: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', plural: 'leases', namespaced: true },
  Event: { apiVersion: 'events.k8s.io/v1', kind: 'Event', plural: 'events', namespaced: true },
} as const satisfies Record<string, Resource>;

/** The resource of `kind`, or an error naming it: every object the operator writes is one of these. */
export function resourceOf(kind: string): Resource {
  const r = (Resources as Record<string, Resource>)[kind];
  if (r === undefined) throw new Error(`the operator does not handle kind ${kind}`);
  return r;
}

/** `/api/v1/namespaces/ns/pods/name`, `/apis/apps/v1/statefulsets` (all namespaces) and the like. */
export function resourcePath(r: Resource, namespace?: string, name?: string, subresource?: string): string {
  const base = r.apiVersion.includes('/') ? `/apis/${r.apiVersion}` : `/api/${r.apiVersion}`;
  let path = r.namespaced && namespace !== undefined ? `${base}/namespaces/${namespace}` : base;
  path += `/${r.plural}`;
  if (name !== undefined) path += `/${encodeURIComponent(name)}`;
  if (subresource !== undefined) path += `/${subresource}`;
  return path;
}
