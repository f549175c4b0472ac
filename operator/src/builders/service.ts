import type { KubeObject, LustreFileSystem } from '../k8s/objects.ts';
import {
  namespaceOf,
  ownerReference,
  type Role,
  roleLabels,
  selectorLabels,
  TARGET_HTTP_PORT,
  targetPort,
  workloadName,
} from './names.ts';

export interface Service extends KubeObject {
  spec: Record<string, unknown>;
}

/**
 * The headless Service of a role's StatefulSet: it gives each target pod a stable DNS name
 * (`demo-ost-1.demo-ost.ns.svc`) that the target advertises to the MGS, and the MGS's Service name is
 * what clients mount. Not-ready addresses are published because a target registers with the MGS, and
 * is reached by it, before it reports ready.
 */
export function headlessService(fs: LustreFileSystem, role: Role): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: workloadName(fs, role),
      namespace: namespaceOf(fs),
      labels: roleLabels(fs, role),
      ownerReferences: [ownerReference(fs)],
    },
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: selectorLabels(fs, role),
      ports: [
        { name: 'lustre', port: targetPort(fs), targetPort: 'lustre', protocol: 'TCP' },
        { name: 'http', port: TARGET_HTTP_PORT, targetPort: 'http', protocol: 'TCP' },
      ],
    },
  };
}
