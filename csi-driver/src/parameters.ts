import { parseMountSpec } from '@kubelustre/client/mount/spec.ts';
import { isKlError } from '@kubelustre/protocol/errors.ts';
import { parseSetstripeArgs } from '@kubelustre/protocol/layout/setstripe-args.ts';
import type { Layout } from '@kubelustre/protocol/layout/types.ts';
import { validateTemplate } from '@kubelustre/protocol/layout/validate.ts';
import { invalidArgument } from './csi-error.ts';
import type { StringMap } from './csi-proto.ts';
import { isCleanPath } from './volume-id.ts';

export type OnDelete = 'retain' | 'delete';

/** A StorageClass's parameters, checked: where its volumes go and how they are laid out. */
export interface VolumeParameters {
  mgs: string;
  fsName: string;
  /** The directory that holds one directory per volume. */
  baseDir: string;
  /** The volume directory's default layout (what `lfs setstripe` on it would set); none: inherit. */
  layout: Layout | undefined;
  onDelete: OnDelete;
  /** The volume's inode limit (its project's `-I`); 0: none. */
  inodeLimit: number;
}

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
]);
/** A volume name becomes one directory name (leaving room for the 5-byte prefix of its name while created). */
const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,249}$/;

/**
 * Parses StorageClass parameters: `mgs: HOST:PORT:/FSNAME` (required), `baseDir` (default /volumes),
 * `setstripe` (lfs setstripe options, e.g. "-E 64M -L mdt -E -1 -c 4"), `pool` (OST pool of every
 * non-DoM component), `onDelete: delete|retain` (default delete), `inodeLimit` (inodes each volume may
 * hold, enforced by its project quota; default none). An unknown key is refused, so a typo
 * never silently yields a default volume.
 */
export function parseVolumeParameters(params: StringMap): VolumeParameters {
  for (const key of Object.keys(params)) {
    if (!KNOWN.has(key) && !key.startsWith(PROVISIONER_PREFIX)) {
      throw invalidArgument(`unknown StorageClass parameter "${key}"`);
    }
  }
  if (params.filesystem !== undefined || params.layoutPolicy !== undefined) {
    // Both name Kubernetes objects (a LustreFileSystem, a LayoutPolicy): resolving them needs the API.
    throw invalidArgument(
      'parameters "filesystem" and "layoutPolicy" are not supported yet; use "mgs" and "setstripe"',
    );
  }
  const spec = params.mgs;
  if (!spec) throw invalidArgument('StorageClass parameter "mgs" (MGS_HOST:PORT:/FSNAME) is required');
  const { mgs, fsName } = asInvalidArgument(() => parseMountSpec(spec));
  const baseDir = params.baseDir ?? DEFAULT_BASE_DIR;
  if (!isCleanPath(baseDir)) throw invalidArgument(`baseDir "${baseDir}" is not an absolute clean path`);
  const onDelete = params.onDelete ?? 'delete';
  if (onDelete !== 'delete' && onDelete !== 'retain') {
    throw invalidArgument(`onDelete "${onDelete}" is neither "delete" nor "retain"`);
  }
  const layout = asInvalidArgument(() => volumeLayout(params.setstripe, params.pool));
  const inodeLimit = params.inodeLimit === undefined ? 0 : Number(params.inodeLimit);
  if (!/^\d+$/.test(params.inodeLimit ?? '0') || !Number.isSafeInteger(inodeLimit)) {
    throw invalidArgument(`inodeLimit "${params.inodeLimit}" is not a whole number`);
  }
  return { mgs, fsName, baseDir, layout, onDelete, inodeLimit };
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
