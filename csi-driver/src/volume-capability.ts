import { invalidArgument } from './csi-error.ts';
import type { AccessModeName, VolumeCapability } from './csi-proto.ts';

/**
 * The access modes a directory of a shared filesystem serves: every node may mount it, reading and
 * writing at once (RWX is the point). The SINGLE_NODE_SINGLE/MULTI_WRITER modes need the
 * SINGLE_NODE_MULTI_WRITER capability, which we do not advertise, so they are refused.
 */
const SUPPORTED_MODES: ReadonlySet<AccessModeName> = new Set([
  'SINGLE_NODE_WRITER',
  'SINGLE_NODE_READER_ONLY',
  'MULTI_NODE_READER_ONLY',
  'MULTI_NODE_SINGLE_WRITER',
  'MULTI_NODE_MULTI_WRITER',
]);

const READ_ONLY_MODES: ReadonlySet<AccessModeName> = new Set([
  'SINGLE_NODE_READER_ONLY',
  'MULTI_NODE_READER_ONLY',
]);

/** Why we cannot serve `cap`, or undefined if we can: a mount (no block) in a supported mode. */
export function unsupportedReason(cap: VolumeCapability): string | undefined {
  if (cap.block) return 'block access is not supported: volumes are directories of a filesystem';
  if (!cap.mount) return 'the capability names no access type (mount)';
  const fsType = cap.mount.fsType;
  if (fsType !== '' && fsType !== 'kubelustre') return `fsType "${fsType}" is not kubelustre`;
  const mode = cap.accessMode?.mode ?? 'UNKNOWN';
  if (!SUPPORTED_MODES.has(mode)) return `access mode ${mode} is not supported`;
  return undefined;
}

/** Throws INVALID_ARGUMENT unless there is at least one capability and every one is servable. */
export function requireSupported(caps: readonly VolumeCapability[]): void {
  if (caps.length === 0) throw invalidArgument('volume capabilities are required');
  for (const cap of caps) {
    const reason = unsupportedReason(cap);
    if (reason) throw invalidArgument(reason);
  }
}

/** A read-only access mode, or a read-only publish, mounts the volume read-only. */
export function isReadOnly(cap: VolumeCapability, readonlyFlag: boolean): boolean {
  return readonlyFlag || READ_ONLY_MODES.has(cap.accessMode?.mode ?? 'UNKNOWN');
}

/**
 * The capacity a CreateVolume or an expansion asks for: its required bytes, else its limit, else 0
 * ("unknown": no byte limit). It becomes the volume's project quota (see quota-api.ts).
 */
export function requestedCapacity(range: { requiredBytes: number; limitBytes: number } | null): number {
  if (!range) return 0;
  if (range.requiredBytes < 0 || range.limitBytes < 0) throw invalidArgument('capacity must not be negative');
  if (range.limitBytes > 0 && range.requiredBytes > range.limitBytes) {
    throw invalidArgument(`required ${range.requiredBytes} bytes exceed the limit of ${range.limitBytes}`);
  }
  return range.requiredBytes || range.limitBytes;
}

/** Whether an existing volume of `capacityBytes` satisfies a repeated CreateVolume's range. */
export function capacityFits(
  capacityBytes: number,
  range: { requiredBytes: number; limitBytes: number } | null,
): boolean {
  if (!range) return true;
  if (range.requiredBytes > capacityBytes) return false;
  return range.limitBytes === 0 || capacityBytes <= range.limitBytes;
}
