import { KlError } from '@kubelustre/protocol/errors.ts';

/**
 * The control path of `lfs pcc` to the mount process: the virtual xattr `lustre.pcc` on a file of the
 * mount (Lustre uses ioctls, which FUSE passes only for some cases). setxattr(`attach [ARCHIVE_ID]`)
 * attaches the file, setxattr(`detach`) detaches it; getxattr answers PccStateValue as JSON.
 */
export const LUSTRE_PCC_XATTR = 'lustre.pcc';

/** What a mount counts of its PCC (also logged at unmount). */
export interface PccCounters {
  /** Reads served from a cache file. */
  hits: number;
  /** Opens of files not attached, and cached reads refused because the copy was stale. */
  misses: number;
  bytesFromCache: number;
  attaches: number;
  detaches: number;
  /** Read-only copies dropped by LRU eviction (watermarks). */
  evictions: number;
  /** Bytes in cache files now (a gauge). */
  cacheBytesUsed: number;
  /** Write-backs of read-write copies to the OSTs (fsync, detach, restore, unmount, recovery). */
  writebacks: number;
  /**
   * Opens handed to the kernel as FUSE passthrough of a copy: their reads are served from the cache
   * without reaching the mount process, so they count here, not in hits or bytesFromCache.
   */
  passthroughOpens: number;
}

export function newPccCounters(): PccCounters {
  return {
    hits: 0,
    misses: 0,
    bytesFromCache: 0,
    attaches: 0,
    detaches: 0,
    evictions: 0,
    cacheBytesUsed: 0,
    writebacks: 0,
    passthroughOpens: 0,
  };
}

/** getxattr(lustre.pcc): the file's PCC state on this mount, and the mount's counters. */
export interface PccStateValue {
  /** Whether the mount has a PCC at all (`-o pcc=DIR`). */
  enabled: boolean;
  /** Lustre's pcc types. */
  type: 'none' | 'readonly' | 'readwrite';
  /** The cache file (when attached). */
  path?: string;
  archiveId?: number;
  dataVersion?: number;
  /** Open readers of the cache file (Lustre's "user number"). */
  users?: number;
  attachedFiles?: number;
  counters?: PccCounters;
}

/** `fid`: the command is for that file, not the one whose xattr was set (`lfs pcc attach_fid`). */
export type PccCommand =
  | { op: 'attach'; archiveId: number | undefined; readWrite: boolean; fid?: string }
  | { op: 'detach'; fid?: string };

const FID_WORD = /^0x[0-9a-f]{1,16}:0x[0-9a-f]{1,8}:0x[0-9a-f]{1,8}$/;

/**
 * Parses a setxattr(lustre.pcc) value: `attach [ARCHIVE_ID] [FID]` (read-only), `attach_rw
 * [ARCHIVE_ID] [FID]` (read-write) or `detach [FID]`; with FID the command names that file (set on
 * any file of the mount, e.g. its root: `lfs pcc attach_fid`/`detach_fid`).
 */
export function parsePccCommand(value: Buffer): PccCommand {
  const words = value.toString('utf8').replace(/\0+$/, '').trim().split(/\s+/);
  const fid = words.length > 1 && FID_WORD.test(words.at(-1)!) ? words.pop() : undefined;
  const withFid = fid === undefined ? {} : { fid };
  if (words.length === 1 && words[0] === 'detach') return { op: 'detach', ...withFid };
  if ((words[0] === 'attach' || words[0] === 'attach_rw') && words.length <= 2) {
    const readWrite = words[0] === 'attach_rw';
    if (words.length === 1) return { op: 'attach', archiveId: undefined, readWrite, ...withFid };
    const id = Number(words[1]);
    if (/^\d+$/.test(words[1]!) && id > 0 && id <= 0xffff_ffff) {
      return { op: 'attach', archiveId: id, readWrite, ...withFid };
    }
  }
  throw new KlError(
    'EINVAL',
    `${LUSTRE_PCC_XATTR} takes "attach[_rw] [ARCHIVE_ID] [FID]" or "detach [FID]", not "${value.toString('utf8')}"`,
  );
}

/** One line of `lfs pcc state`, as Lustre's lfs prints it. */
export function formatPccState(path: string, s: PccStateValue): string {
  if (s.type === 'none' && !s.users) return `file: ${path}, type: none\n`;
  return `file: ${path}, type: ${s.type}, PCC file: ${s.path ?? ''}, user number: ${s.users ?? 0}, flags: 0\n`;
}

/** `lfs pcc state --stats`: the mount's counters, one line. */
export function formatPccStats(s: PccStateValue): string {
  const c = s.counters ?? newPccCounters();
  return (
    `pcc: ${s.enabled ? 'enabled' : 'disabled'}, attached files: ${s.attachedFiles ?? 0}, hits: ${c.hits}, ` +
    `misses: ${c.misses}, bytes from cache: ${c.bytesFromCache}, attaches: ${c.attaches}, detaches: ${c.detaches}, ` +
    `evictions: ${c.evictions}, writebacks: ${c.writebacks}, passthrough opens: ${c.passthroughOpens}, ` +
    `cache bytes used: ${c.cacheBytesUsed}\n`
  );
}
