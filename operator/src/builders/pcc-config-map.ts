import type { PccClass } from '../k8s/objects.ts';
import type { ConfigMap } from './config-map.ts';
import { LABELS, MANAGED_BY } from './names.ts';

/** The key under which the CSI node plugin finds the class. */
export const PCC_CONFIG_KEY = 'pccclass.json';
export const PCC_CLASS_LABEL = 'kubelustre.io/pccclass';

/**
 * A PCCClass as the CSI node plugin reads it: a ConfigMap in the operator's namespace, which the
 * plugin's DaemonSet can read without rights on our CRDs. `generation` lets a node tell which version
 * of the class it attached.
 */
export function pccConfigMap(pcc: PccClass, namespace: string): ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: `kubelustre-pcc-${pcc.metadata.name}`,
      namespace,
      labels: {
        [LABELS.partOf]: 'kubelustre',
        [LABELS.managedBy]: MANAGED_BY,
        [PCC_CLASS_LABEL]: pcc.metadata.name,
      },
      ownerReferences: [
        {
          apiVersion: pcc.apiVersion,
          kind: pcc.kind,
          name: pcc.metadata.name,
          uid: pcc.metadata.uid ?? '',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    data: {
      [PCC_CONFIG_KEY]: `${JSON.stringify({ name: pcc.metadata.name, generation: pcc.metadata.generation ?? 0, spec: pcc.spec }, null, 2)}\n`,
    },
  };
}
