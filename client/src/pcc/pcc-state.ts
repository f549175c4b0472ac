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
}

export function newPccCounters(): PccCounters {
  return { hits: 0, misses: 0, bytesFromCache: 0, attaches: 0, detaches: 0 };
}

/** getxattr(lustre.pcc): the file's PCC state on this mount, and the mount's counters. */
export interface PccStateValue {
  /** Whether the mount has a PCC at all (`-o pcc=DIR`). */
  enabled: boolean;
  /** Lustre's pcc types: only read-only is implemented. */
  type: 'none' | 'readonly';
  /** The cache file (when attached). */
  path?: string;
  archiveId?: number;
  dataVersion?: number;
  /** Open readers of the cache file (Lustre's "user number"). */
  users?: number;
  attachedFiles?: number;
  counters?: PccCounters;
}

export type PccCommand = { op: 'attach'; archiveId: number | undefined } | { op: 'detach' };

/** Parses a setxattr(lustre.pcc) value: `attach`, `attach ARCHIVE_ID` or `detach`. */
export function parsePccCommand(value: Buffer): PccCommand {
  const words = value.toString('utf8').replace(/\0+$/, '').trim().split(/\s+/);
  if (words.length === 1 && words[0] === 'detach') return { op: 'detach' };
  if (words[0] === 'attach' && words.length <= 2) {
    if (words.length === 1) return { op: 'attach', archiveId: undefined };
    const id = Number(words[1]);
    if (Number.isInteger(id) && id > 0 && id <= 0xffff_ffff) return { op: 'attach', archiveId: id };
  }
  throw new KlError(
    'EINVAL',
    `${LUSTRE_PCC_XATTR} takes "attach [ARCHIVE_ID]" or "detach", not "${words.join(' ')}"`,
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
    `misses: ${c.misses}, bytes from cache: ${c.bytesFromCache}, attaches: ${c.attaches}, detaches: ${c.detaches}\n`
  );
}
