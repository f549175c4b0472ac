import type { KubeObject, LustreFileSystem } from '../k8s/objects.ts';
import { namespaceOf, ownerReference, type Role, roleLabels, selectorLabels, workloadName } from './names.ts';

export interface PodDisruptionBudget extends KubeObject {
  spec: Record<string, unknown>;
}

/**
 * At most one target of a role down for a voluntary disruption (a node drain): clients wait for a
 * missing target and resume when it is back, so one at a time keeps the filesystem usable; draining
 * every OST at once would stall all I/O. Even the single MGS may go: clients keep working without it.
 */
export function podDisruptionBudget(fs: LustreFileSystem, role: Role): PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: {
      name: workloadName(fs, role),
      namespace: namespaceOf(fs),
      labels: roleLabels(fs, role),
      ownerReferences: [ownerReference(fs)],
    },
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(fs, role) } },
  };
}
