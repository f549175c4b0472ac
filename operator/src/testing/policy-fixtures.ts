import type { LayoutPolicy, LustreFileSystem, StatefulSet } from '../k8s/objects.ts';

/** Small objects for the policy tests: only what the functions read. */

export function fsWith(osts: number, extra: Partial<LustreFileSystem['spec']> = {}): LustreFileSystem {
  return {
    apiVersion: 'kubelustre.io/v1alpha1',
    kind: 'LustreFileSystem',
    metadata: { name: 'demo', namespace: 'ns', generation: 3, uid: 'u1' },
    spec: {
      fsName: 'demo',
      mgs: { storage: { size: '1Gi' } },
      mdts: { count: 1, storage: { size: '1Gi' } },
      osts: { count: osts, storage: { size: '1Gi' } },
      sharedKeySecretRef: { name: 'demo-key', key: 'key' },
      targetPort: 988,
      ...extra,
    },
  };
}

export function sts(replicas: number, readyReplicas = 0): StatefulSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'x' },
    spec: { replicas },
    status: { readyReplicas },
  };
}

export function layoutPolicy(
  name: string,
  extra: Partial<LayoutPolicy['spec']> = {},
  created = '2026-01-01T00:00:00Z',
): LayoutPolicy {
  return {
    apiVersion: 'kubelustre.io/v1alpha1',
    kind: 'LayoutPolicy',
    metadata: { name, namespace: 'ns', creationTimestamp: created },
    spec: {
      fileSystem: 'demo',
      appliesTo: { fileSystemDefault: true },
      components: [{ end: -1, stripeCount: 2 }],
      ...extra,
    },
  };
}
