import { status } from '@grpc/grpc-js';
import { parseMountSpec } from '@kubelustre/client/mount/spec.ts';
import { API_GROUP, API_VERSION } from '@kubelustre/operator/crds/definition.ts';
import type { LayoutPolicy, LustreFileSystem, PccClass, Secret } from '@kubelustre/operator/k8s/objects.ts';
import { ApiError, isNotFound, KubeRest } from '@kubelustre/operator/k8s/rest.ts';
import { layoutTemplate } from '@kubelustre/operator/policy/layout.ts';
import { sharedKeyOf } from '@kubelustre/operator/policy/shared-key.ts';
import { isKlError } from '@kubelustre/protocol/errors.ts';
import type { Layout } from '@kubelustre/protocol/layout/types.ts';
import { validateTemplate } from '@kubelustre/protocol/layout/validate.ts';
import { KubeConfig } from '@kubernetes/client-node';
import { CsiError, invalidArgument } from './csi-error.ts';
import type { ObjectRef } from './parameters.ts';

/** A LustreFileSystem as the controller uses it: where its MGS answers, and the object itself. */
export interface ResolvedFilesystem {
  mgs: string;
  fsName: string;
  object: LustreFileSystem;
}

/** The part of KubeRest the resolver calls, so tests can answer without an API server. */
export interface KubeGetter {
  request<T>(method: 'GET', path: string): Promise<T>;
}

/**
 * Reads the objects a StorageClass names (`filesystem`, `layoutPolicy`) through the Kubernetes API,
 * each CreateVolume afresh: they are read rarely, and a cache would serve a key or layout since replaced.
 * The API client is made on first use, so a plugin whose StorageClasses only use `mgs` never needs
 * API access (nor a kubeconfig).
 */
export class FilesystemResolver {
  readonly #connect: () => KubeGetter;
  /** MGS addresses by `NAMESPACE/NAME`, instead of the mountTarget's in-cluster DNS name. */
  readonly #mgsAddresses: ReadonlyMap<string, string>;
  #api: KubeGetter | undefined;

  constructor(connect: () => KubeGetter, mgsAddresses: ReadonlyMap<string, string> = new Map()) {
    this.#connect = connect;
    this.#mgsAddresses = mgsAddresses;
  }

  /** Through `kubeconfig`, else the default chain ($KUBECONFIG, ~/.kube/config, in-cluster). */
  static fromKubeconfig(kubeconfig: string | undefined, mgsAddresses: ReadonlyMap<string, string>) {
    const connect = () => {
      const kc = new KubeConfig();
      if (kubeconfig !== undefined) kc.loadFromFile(kubeconfig);
      else kc.loadFromDefault();
      return new KubeRest(kc);
    };
    return new FilesystemResolver(connect, mgsAddresses);
  }

  /** The LustreFileSystem `ref`, Ready, with the address its MGS answers at here. */
  async filesystem(ref: ObjectRef): Promise<ResolvedFilesystem> {
    const object = await this.#filesystemObject(ref);
    if (!object) throw invalidArgument(`LustreFileSystem ${ref.namespace}/${ref.name} does not exist`);
    return { ...mgsLocation(object, this.#mgsAddresses.get(`${ref.namespace}/${ref.name}`)), object };
  }

  /**
   * The shared key of LustreFileSystem `ref`, Ready or not, for calls on volumes made from it before
   * (DeleteVolume after a restart): they need its key, not a filesystem that is fit for new volumes.
   */
  async sharedKeyOfRef(ref: ObjectRef): Promise<Buffer> {
    const object = await this.#filesystemObject(ref);
    if (!object)
      throw new CsiError(status.NOT_FOUND, `LustreFileSystem ${ref.namespace}/${ref.name} does not exist`);
    return this.sharedKey(object);
  }

  #filesystemObject(ref: ObjectRef): Promise<LustreFileSystem | undefined> {
    const what = `LustreFileSystem ${ref.namespace}/${ref.name}`;
    return this.#get<LustreFileSystem>(customPath(ref, 'lustrefilesystems'), what);
  }

  /** The key in the filesystem's sharedKeySecretRef Secret (the one its targets use). */
  async sharedKey(fs: LustreFileSystem): Promise<Buffer> {
    const namespace = fs.metadata.namespace ?? 'default';
    const name = fs.spec.sharedKeySecretRef.name;
    const path = `/api/v1/namespaces/${namespace}/secrets/${name}`;
    const secret = await this.#get<Secret>(path, `Secret ${namespace}/${name}`);
    const key = sharedKeyOf(fs, secret);
    if (!key.ok) {
      throw new CsiError(
        status.UNAVAILABLE,
        `LustreFileSystem ${namespace}/${fs.metadata.name}: ${key.message}`,
      );
    }
    return key.key;
  }

  /** The layout of LayoutPolicy `name` in the filesystem's namespace, checked against the filesystem. */
  async layoutPolicy(fs: LustreFileSystem, name: string): Promise<Layout> {
    const ref = { namespace: fs.metadata.namespace ?? 'default', name };
    const what = `LayoutPolicy ${ref.namespace}/${name}`;
    const policy = await this.#get<LayoutPolicy>(customPath(ref, 'layoutpolicies'), what);
    if (!policy) throw invalidArgument(`${what} does not exist`);
    return policyLayout(policy, fs);
  }

  /**
   * PCCClass `name` (cluster-scoped), checked usable: INVALID_ARGUMENT when there is none or the
   * operator found its spec unusable; one not reconciled yet is accepted (the node mounts without PCC
   * until its ConfigMap is published, and says so in its log).
   */
  async pccClass(name: string): Promise<PccClass> {
    const what = `PCCClass ${name}`;
    const pcc = await this.#get<PccClass>(`/apis/${API_GROUP}/${API_VERSION}/pccclasses/${name}`, what);
    if (!pcc) throw invalidArgument(`${what} does not exist`);
    const ready = pcc.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status === 'False' && ready.reason === 'InvalidSpec') {
      throw invalidArgument(`${what} is not usable: ${ready.message}`);
    }
    return pcc;
  }

  /** The object at `path`; undefined if there is none. Other API failures are worth a retry. */
  async #get<T>(path: string, what: string): Promise<T | undefined> {
    try {
      this.#api ??= this.#connect();
      return await this.#api.request<T>('GET', path);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      // RBAC refusals and an unreachable API server both heal without a new StorageClass.
      const why = e instanceof ApiError ? e.message : `no Kubernetes API: ${(e as Error).message}`;
      throw new CsiError(status.UNAVAILABLE, `reading ${what}: ${why}`, { cause: e });
    }
  }
}

function customPath(ref: ObjectRef, plural: string): string {
  return `/apis/${API_GROUP}/${API_VERSION}/namespaces/${ref.namespace}/${plural}/${ref.name}`;
}

/**
 * Where `fs`'s MGS answers: its status.mountTarget, with the host and port replaced by `mgsAddress` when
 * given (the mountTarget names an in-cluster Service, which resolves only inside the cluster). A
 * filesystem that is not Ready is UNAVAILABLE with the operator's reason: the CO retries, and the
 * PVC's events tell the user what the filesystem waits for.
 */
export function mgsLocation(
  fs: LustreFileSystem,
  mgsAddress: string | undefined,
): { mgs: string; fsName: string } {
  const what = `LustreFileSystem ${fs.metadata.namespace}/${fs.metadata.name}`;
  const ready = fs.status?.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') {
    const why = ready ? `${ready.reason}: ${ready.message}` : 'it has no Ready condition yet';
    throw new CsiError(status.UNAVAILABLE, `${what} is not Ready (${why})`);
  }
  const target = fs.status?.mountTarget;
  if (!target) throw new CsiError(status.UNAVAILABLE, `${what} has no status.mountTarget yet`);
  try {
    const { mgs, fsName } = parseMountSpec(target);
    return { mgs: mgsAddress ?? mgs, fsName };
  } catch (e) {
    if (!isKlError(e, 'EINVAL')) throw e;
    throw new CsiError(
      status.UNAVAILABLE,
      `${what} has a mountTarget "${target}" that is not HOST:PORT:/FSNAME`,
    );
  }
}

/**
 * A LayoutPolicy's components as a layout template, checked as the MGS would for the filesystem's OST
 * count. The policy's `appliesTo` is not consulted: naming the policy in a StorageClass is what applies
 * it, to that class's volume directories.
 */
export function policyLayout(policy: LayoutPolicy, fs: LustreFileSystem): Layout {
  const what = `LayoutPolicy ${policy.metadata.namespace}/${policy.metadata.name}`;
  if (policy.spec.fileSystem !== fs.metadata.name) {
    throw invalidArgument(
      `${what} is for LustreFileSystem ${policy.spec.fileSystem}, not ${fs.metadata.name}`,
    );
  }
  const layout = layoutTemplate(policy.spec.components);
  try {
    validateTemplate(layout, { ostCount: fs.spec.osts.count });
  } catch (e) {
    if (isKlError(e, 'EINVAL')) throw invalidArgument(`${what}: ${e.reason}`);
    throw e;
  }
  return layout;
}

/** `--mgs-address NAMESPACE/NAME=HOST:PORT` values, by `NAMESPACE/NAME`; throws saying which is wrong. */
export function parseMgsAddresses(values: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const value of values) {
    const m = /^([a-z0-9-]+\/[a-z0-9.-]+)=([^:/\s]+:\d{1,5})$/.exec(value);
    if (!m) throw new Error(`--mgs-address "${value}" is not NAMESPACE/NAME=HOST:PORT`);
    out.set(m[1]!, m[2]!);
  }
  return out;
}
