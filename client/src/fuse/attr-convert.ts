import { readFile } from 'node:fs/promises';
import type { Attr } from '../attr.ts';
import type { AttrChange, Caller } from '../permissions.ts';
import type { StatfsValue } from '../statfs.ts';
import type { RequestContext } from './fuse-ops.ts';
import {
  FATTR_ATIME,
  FATTR_ATIME_NOW,
  FATTR_GID,
  FATTR_MODE,
  FATTR_MTIME,
  FATTR_MTIME_NOW,
  FATTR_SIZE,
  FATTR_UID,
  type FuseAttr,
  type StatfsOut,
} from './kernel-abi.ts';
import type { SetattrIn } from './request-decoders.ts';

/**
 * st_blksize: what cp, dd and stdio size their I/O by. 1 MiB is max_write (one request per call), and
 * Lustre's default stripe size, which Lustre reports there too.
 */
export const BLKSIZE = 1024 * 1024;
/** statfs block unit (f_frsize, f_bsize): df counts in these. */
const STATFS_BLOCK_BYTES = 4096;

export function fuseAttrOf(a: Attr): FuseAttr {
  return {
    ino: a.ino,
    size: a.size,
    blocks: a.blocks,
    atime: a.atime,
    mtime: a.mtime,
    ctime: a.ctime,
    mode: a.mode,
    nlink: a.nlink,
    uid: a.uid,
    gid: a.gid,
    rdev: a.rdev,
    blksize: BLKSIZE,
  };
}

/**
 * fuse_setattr_in → the library's change. The kernel has already applied its rules (permission, what
 * chmod by a non-member does to set-group-id, killing set-user-id on chown); ctime is the MDT's to set.
 */
export function attrChangeOf(s: SetattrIn): AttrChange {
  const has = (bit: number) => (s.valid & bit) !== 0;
  const change: AttrChange = {};
  if (has(FATTR_MODE)) change.mode = s.mode & 0o7777;
  if (has(FATTR_UID)) change.uid = s.uid;
  if (has(FATTR_GID)) change.gid = s.gid;
  if (has(FATTR_SIZE)) change.size = s.size;
  if (has(FATTR_ATIME)) change.atime = has(FATTR_ATIME_NOW) ? 'now' : s.atime;
  if (has(FATTR_MTIME)) change.mtime = has(FATTR_MTIME_NOW) ? 'now' : s.mtime;
  return change;
}

export function statfsOutOf(s: StatfsValue): StatfsOut {
  const blocks = (bytes: number) => Math.floor(bytes / STATFS_BLOCK_BYTES);
  return {
    blocks: blocks(s.totalBytes),
    bfree: blocks(s.freeBytes),
    bavail: blocks(s.availBytes),
    files: s.files,
    ffree: s.filesFree,
    bsize: STATFS_BLOCK_BYTES,
    namelen: 255,
    frsize: STATFS_BLOCK_BYTES,
  };
}

/** What decides whether this mount's cached pages of a file are still good at its next open. */
export const openStampOf = (a: Attr): string => `${a.mtime.sec}.${a.mtime.nsec}:${a.size}`;

/**
 * The caller of a request that creates an inode, whose ids and groups decide its owner and group
 * (set-group-id inheritance needs the supplementary groups, which FUSE does not send: they are read
 * from /proc, as libfuse's fuse_req_getgroups does). A process already gone has no groups left.
 */
export async function creatorOf(ctx: RequestContext): Promise<Caller> {
  const base = { uid: ctx.uid, gid: ctx.gid };
  if (ctx.pid === 0) return { ...base, groups: [] };
  const status = await readFile(`/proc/${ctx.pid}/status`, 'utf8').catch(() => '');
  const line = /^Groups:\s*(.*)$/m.exec(status)?.[1] ?? '';
  return { ...base, groups: line.split(/\s+/).filter(Boolean).map(Number) };
}
