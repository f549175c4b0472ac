import { parseMountSpec } from '@kubelustre/client/mount/spec.ts';
import { isKlError } from '@kubelustre/protocol/errors.ts';

/**
 * Where a volume lives: a directory of one filesystem. The volume id is exactly that, written as
 * Lustre writes a subdirectory mount source: `MGS_HOST:PORT:/FSNAME/PATH`, for example
 * `10.0.0.5:9400:/fs1/volumes/pvc-0c2e…`. Every RPC finds its volume from the id alone, so the driver
 * keeps no table of volumes; a statically provisioned PersistentVolume names any existing directory
 * the same way in its volumeHandle.
 */
export interface VolumeRef {
  /** `host:port` of the MGS (an IPv6 host in brackets). */
  mgs: string;
  fsName: string;
  /** Absolute path inside the filesystem, normalized, never the root itself. */
  path: string;
}

const PATH_MAX_BYTES = 4096;
const ID_PATTERN = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5}):\/([\w.-]{1,8})(\/.*)$/;

export function encodeVolumeId(v: VolumeRef): string {
  return `${fsSpec(v)}${v.path}`;
}

/** The filesystem's mount source, `MGS_HOST:PORT:/FSNAME`. */
export function fsSpec(v: { mgs: string; fsName: string }): string {
  return `${v.mgs}:/${v.fsName}`;
}

/** The volume an id names, or undefined for an id that is not ours (no volume of ours has it). */
export function decodeVolumeId(id: string): VolumeRef | undefined {
  const m = ID_PATTERN.exec(id);
  if (!m) return undefined;
  const [, host, port, fsName, path] = m as unknown as [string, string, string, string, string];
  try {
    parseMountSpec(`${host}:${port}:/${fsName}`);
  } catch (e) {
    if (isKlError(e, 'EINVAL')) return undefined;
    throw e;
  }
  if (!isCleanPath(path)) return undefined;
  return { mgs: `${host}:${port}`, fsName, path };
}

/** An absolute path below the root with no empty, "." or ".." component, as a volume's directory is. */
export function isCleanPath(path: string): boolean {
  if (!path.startsWith('/') || Buffer.byteLength(path) > PATH_MAX_BYTES || path.includes('\0')) return false;
  const parts = path.slice(1).split('/');
  return parts.every((p) => p !== '' && p !== '.' && p !== '..');
}
