import type { KubeObject, LustreFileSystem } from '../k8s/objects.ts';
import {
  type BuildContext,
  configMapName,
  DEFAULT_BUILD_CONTEXT,
  fileSystemLabels,
  mgsAddress,
  mountTarget,
  namespaceOf,
  ownerReference,
} from './names.ts';

export interface ConfigMap extends KubeObject {
  data: Record<string, string>;
}

/**
 * How to reach the filesystem, for clients in the namespace (the CSI driver, `kubelustre mount`): the
 * MGS address and fsname, and the Secret with the shared key. Nothing secret is in it.
 */
export function configMap(fs: LustreFileSystem, ctx: BuildContext = DEFAULT_BUILD_CONTEXT): ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: configMapName(fs),
      namespace: namespaceOf(fs),
      labels: fileSystemLabels(fs),
      ownerReferences: [ownerReference(fs)],
    },
    data: {
      fsName: fs.spec.fsName,
      mgsAddress: mgsAddress(fs, ctx),
      mountTarget: mountTarget(fs, ctx),
      sharedKeySecret: fs.spec.sharedKeySecretRef.name,
      sharedKeySecretKey: fs.spec.sharedKeySecretRef.key ?? 'key',
    },
  };
}
