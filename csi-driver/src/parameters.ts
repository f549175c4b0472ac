import { parseMountSpec } from '@kubelustre/client/mount/spec.ts';
import { isKlError } from '@kubelustre/protocol/errors.ts';
import { parseSetstripeArgs } from '@kubelustre/protocol/layout/setstripe-args.ts';
import type { Layout } from '@kubelustre/protocol/layout/types.ts';
import { validateTemplate } from '@kubelustre/protocol/layout/validate.ts';
import { invalidArgument } from './csi-error.ts';
import type { StringMap } from './csi-proto.ts';
import { isCleanPath } from './volume-id.ts';

export type OnDelete = 'retain' | 'delete';

/** A namespaced Kubernetes object's name. */
export interface ObjectRef {
  namespace: string;
  name: string;
}

/**
 * Where a StorageClass's volumes go: a filesystem named by its MGS (`mgs`), or a LustreFileSystem
 * object (`filesystem`) whose MGS and key the controller reads through the Kubernetes API.
 */
export type FsSource =
  | { mgs: string; fsName: string; filesystem?: undefined }
  | { filesystem: ObjectRef; mgs?: undefined; fsName?: undefined };

/** A StorageClass's parameters, checked: where its volumes go and how they are laid out. */
export type VolumeParameters = FsSource & {
  /** The directory that holds one directory per volume. */
  baseDir: string;
  /** The volume directory's default layout from `setstripe`/`pool`; none: inherit (or layoutPolicy). */
  layout: Layout | undefined;
  /** A LayoutPolicy in the filesystem's namespace: the volume directory's default layout instead. */
  layoutPolicy: string | undefined;
  onDelete: OnDelete;
  /** The volume's inode limit (its project's `-I`); 0: none. */
  inodeLimit: number;
  /** A PCCClass (cluster-scoped): nodes mount the volume with that Persistent Client Cache. */
  pccClass: string | undefined;
};

export const DEFAULT_BASE_DIR = '/volumes';
/** The external-provisioner passes its own keys with this prefix; they are not ours to judge. */
const PROVISIONER_PREFIX = 'csi.storage.k8s.io/';
const KNOWN = new Set([
  'mgs',
  'filesystem',
  'baseDir',
  'setstripe',
  'pool',
  'onDelete',
  'layoutPolicy',
  'inodeLimit',
  'pccClass',
]);
/** A Kubernetes object name (DNS-1123 subdomain) and namespace (DNS-1123 label). */
const OBJECT_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A volume name becomes one directory name (leaving room for the 5-byte prefix of its name while created). */
const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,249}$/;

/**
 * Parses StorageClass parameters. Where: `mgs: HOST:PORT:/FSNAME`, or `filesystem: NAMESPACE/NAME` (a
 * LustreFileSystem), exactly one. `baseDir` (default /volumes); `setstripe` (lfs setstripe options, e.g.
 * "-E 64M -L mdt -E -1 -c 4"); `pool` (OST pool of every non-DoM component); `layoutPolicy: NAME` (a
 * LayoutPolicy of the filesystem, so only with `filesystem`; not with setstripe or pool, as the policy
 * is the whole layout); `onDelete: delete|retain` (default delete); `inodeLimit` (inodes each volume
 * may hold, enforced by its project quota; default none); `pccClass: NAME` (a PCCClass: nodes mount
 * the volume with its Persistent Client Cache). An unknown key is refused, so a typo never
 * silently yields a default volume.
 */
export function parseVolumeParameters(params: StringMap): VolumeParameters {
  for (const key of Object.keys(params)) {
    if (!KNOWN.has(key) && !key.startsWith(PROVISIONER_PREFIX)) {
      throw invalidArgument(`unknown StorageClass parameter "${key}"`);
    }
  }
  const source = fsSource(params.mgs, params.filesystem);
  const baseDir = params.baseDir ?? DEFAULT_BASE_DIR;
  if (!isCleanPath(baseDir)) throw invalidArgument(`baseDir "${baseDir}" is not an absolute clean path`);
  const onDelete = params.onDelete ?? 'delete';
  if (onDelete !== 'delete' && onDelete !== 'retain') {
    throw invalidArgument(`onDelete "${onDelete}" is neither "delete" nor "retain"`);
  }
  const layoutPolicy = params.layoutPolicy;
  if (layoutPolicy !== undefined) checkLayoutPolicy(layoutPolicy, params, source);
  const layout = asInvalidArgument(() => volumeLayout(params.setstripe, params.pool));
  const inodeLimit = params.inodeLimit === undefined ? 0 : Number(params.inodeLimit);
  if (!/^\d+$/.test(params.inodeLimit ?? '0') || !Number.isSafeInteger(inodeLimit)) {
    throw invalidArgument(`inodeLimit "${params.inodeLimit}" is not a whole number`);
  }
  const pccClass = params.pccClass;
  if (pccClass !== undefined && !OBJECT_NAME.test(pccClass)) {
    throw invalidArgument(`pccClass "${pccClass}" is not an object name`);
  }
  return { ...source, baseDir, layout, layoutPolicy, onDelete, inodeLimit, pccClass };
}

function fsSource(mgsSpec: string | undefined, filesystem: string | undefined): FsSource {
  if (mgsSpec !== undefined && filesystem !== undefined) {
    throw invalidArgument('give either "mgs" or "filesystem", not both');
  }
  if (filesystem !== undefined) return { filesystem: parseObjectRef('filesystem', filesystem) };
  if (!mgsSpec) {
    throw invalidArgument(
      'StorageClass parameter "filesystem" (NAMESPACE/NAME) or "mgs" (MGS_HOST:PORT:/FSNAME) is required',
    );
  }
  const { mgs, fsName } = asInvalidArgument(() => parseMountSpec(mgsSpec));
  return { mgs, fsName };
}

/** `NAMESPACE/NAME` of parameter `param`. */
export function parseObjectRef(param: string, value: string): ObjectRef {
  const [namespace, name, ...rest] = value.split('/');
  if (rest.length > 0 || !namespace || !name || !NAMESPACE.test(namespace) || !OBJECT_NAME.test(name)) {
    throw invalidArgument(`${param} "${value}" is not NAMESPACE/NAME`);
  }
  return { namespace, name };
}

/** A LayoutPolicy belongs to a LustreFileSystem of its namespace, so it needs `filesystem` to be found. */
function checkLayoutPolicy(name: string, params: StringMap, source: FsSource): void {
  if (!OBJECT_NAME.test(name)) throw invalidArgument(`layoutPolicy "${name}" is not an object name`);
  if (source.filesystem === undefined) {
    throw invalidArgument(`layoutPolicy "${name}" needs "filesystem" (NAMESPACE/NAME), not "mgs"`);
  }
  for (const other of ['setstripe', 'pool']) {
    if (params[other] !== undefined) {
      throw invalidArgument(`give either "layoutPolicy" or "${other}", not both: the policy is the layout`);
    }
  }
}

/** The layout from `setstripe` options with `pool` given to every component that stores on OSTs. */
function volumeLayout(setstripe: string | undefined, pool: string | undefined): Layout | undefined {
  const parsed = setstripe?.trim() ? parseSetstripeArgs(setstripe).layout : undefined;
  if (pool === undefined) return parsed;
  if (!parsed) return parseSetstripeArgs(['-p', pool]).layout;
  const components = parsed.components.map((c) => (c.pattern === 'mdt' || c.pool ? c : { ...c, pool }));
  const layout = { ...parsed, components };
  validateTemplate(layout);
  return layout;
}

/** The directory of volume `name` under `baseDir`. */
export function volumePath(baseDir: string, name: string): string {
  if (!VOLUME_NAME.test(name)) {
    throw invalidArgument(`volume name "${name}" must be 1-250 of [A-Za-z0-9._-], starting alphanumeric`);
  }
  return `${baseDir}/${name}`;
}

function asInvalidArgument<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (isKlError(e, 'EINVAL')) throw invalidArgument(e.reason);
    throw e;
  }
}
