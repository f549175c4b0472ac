import type { KubeObject } from '../k8s/objects.ts';

/** A work-queue key: `namespace/name`, or `name` for a cluster-scoped object. */
export function objectKey(o: { metadata: { namespace?: string; name: string } }): string {
  return o.metadata.namespace === undefined ? o.metadata.name : `${o.metadata.namespace}/${o.metadata.name}`;
}

export function keyOf(namespace: string | undefined, name: string): string {
  return namespace === undefined ? name : `${namespace}/${name}`;
}

export function parseKey(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** The key of `o`'s controlling owner of `kind`, if it has one. */
export function controllerKey(o: KubeObject, kind: string): string | undefined {
  const owner = o.metadata.ownerReferences?.find((r) => r.controller === true && r.kind === kind);
  return owner === undefined ? undefined : keyOf(o.metadata.namespace, owner.name);
}
