import { KlError } from '@kubelustre/protocol/errors.ts';
import {
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  type rename as renameOp,
} from '@kubelustre/protocol/messages/mdt.ts';
import type { RequestOf } from '@kubelustre/protocol/messages/op.ts';
import { addDentry, hasEntries, lookupDentry, parentOf, removeDentry } from './dentries.ts';
import { ROOT_FID } from './fid.ts';
import { type Inode, isDir, now, putInode, requireDir, requireInode, type TimespecValue } from './inodes.ts';
import { checkName } from './names.ts';
import { dropLink, type Mdt } from './namespace.ts';
import type { Store } from './store.ts';

/** One end of a rename, as the rules see it. */
export interface RenameSide {
  fid: string;
  dir: boolean;
  /** For a directory: it has no entries. */
  empty: boolean;
}

export interface RenameFacts {
  src: RenameSide;
  /** The entry at the destination name, if any. */
  dst: RenameSide | undefined;
  flags: number;
  /** The source is a directory that is the destination's parent or one of its ancestors. */
  srcContainsDstParent: boolean;
  /** The destination is a directory that is the source's parent or one of its ancestors. */
  dstContainsSrcParent: boolean;
}

export type RenameAction = 'noop' | 'move' | 'replace' | 'exchange';

/**
 * What rename(2)/renameat2(2) does, with Linux's errors in Linux's order (do_renameat2, vfs_rename):
 * flags, RENAME_NOREPLACE/RENAME_EXCHANGE on the destination's existence, moving a directory under
 * itself (EINVAL) or over one of its own ancestors (ENOTEMPTY; EINVAL when exchanging), two names of
 * one inode (nothing happens), type mismatches (ENOTDIR/EISDIR), and replacing a non-empty directory.
 */
export function renameAction(f: RenameFacts, where: string): RenameAction {
  if ((f.flags & RENAME_NOREPLACE) !== 0 && (f.flags & RENAME_EXCHANGE) !== 0) {
    throw new KlError('EINVAL', `${where}: RENAME_NOREPLACE and RENAME_EXCHANGE together`);
  }
  if (f.dst !== undefined && (f.flags & RENAME_NOREPLACE) !== 0) {
    throw new KlError('EEXIST', `${where}: the destination exists (RENAME_NOREPLACE)`);
  }
  const exchange = (f.flags & RENAME_EXCHANGE) !== 0;
  if (exchange && f.dst === undefined) throw new KlError('ENOENT', `${where}: nothing to exchange with`);
  if (f.srcContainsDstParent) throw new KlError('EINVAL', `${where}: cannot move a directory into itself`);
  if (f.dstContainsSrcParent) {
    const code = exchange ? 'EINVAL' : 'ENOTEMPTY';
    throw new KlError(code, `${where}: the destination is a directory containing the source`);
  }
  if (f.dst === undefined) return 'move';
  if (f.dst.fid === f.src.fid) return 'noop';
  if (exchange) return 'exchange';
  if (f.src.dir && !f.dst.dir)
    throw new KlError('ENOTDIR', `${where}: a directory cannot replace a non-directory`);
  if (!f.src.dir && f.dst.dir)
    throw new KlError('EISDIR', `${where}: a non-directory cannot replace a directory`);
  if (f.dst.dir && !f.dst.empty)
    throw new KlError('ENOTEMPTY', `${where}: the directory replaced is not empty`);
  return 'replace';
}

/** Deepest nesting the ancestry walk follows (a bound against a corrupted, cyclic tree). */
const DEPTH_MAX = 4096;

/** True when directory `ancestor` is `fid` or lies on its path to the root. */
export function isAncestorOrSelf(store: Store, ancestor: string, fid: string): boolean {
  let at: string | undefined = fid;
  for (let depth = 0; at !== undefined && depth < DEPTH_MAX; depth++) {
    if (at === ancestor) return true;
    if (at === ROOT_FID) return false;
    at = parentOf(store, at)?.parent;
  }
  return false;
}

/** rename(2)/renameat2(2), atomically: the whole change is one transaction (the caller's). */
export function rename(m: Mdt, req: RequestOf<typeof renameOp>): void {
  const { srcParent, srcName, dstParent, dstName } = req;
  checkName(srcName, srcParent);
  checkName(dstName, dstParent);
  const where = `rename "${srcName}" in ${srcParent} to "${dstName}" in ${dstParent}`;
  const parents = new Map<string, Inode>();
  for (const fid of [srcParent, dstParent]) if (!parents.has(fid)) parents.set(fid, requireDir(m.store, fid));
  const srcFid = lookupDentry(m.store, srcParent, srcName);
  if (srcFid === undefined) throw new KlError('ENOENT', `${where}: the source does not exist`);
  const src = requireInode(m.store, srcFid);
  const dstFid = lookupDentry(m.store, dstParent, dstName);
  const dst = dstFid === undefined ? undefined : requireInode(m.store, dstFid);
  const action = renameAction(
    {
      src: side(m.store, src),
      dst: dst && side(m.store, dst),
      flags: req.flags,
      srcContainsDstParent: isDir(src) && isAncestorOrSelf(m.store, src.fid, dstParent),
      dstContainsSrcParent: dst !== undefined && isDir(dst) && isAncestorOrSelf(m.store, dst.fid, srcParent),
    },
    where,
  );
  if (action === 'noop') return;
  const t = now();
  const sp = parents.get(srcParent)!;
  const dp = parents.get(dstParent)!;
  removeDentry(m.store, srcParent, srcName);
  if (dst !== undefined) removeDentry(m.store, dstParent, dstName);
  if (action === 'replace') {
    if (isDir(dst!)) dp.nlink--;
    dropLink(m, dst!, t);
  }
  if (action === 'exchange') {
    addDentry(m.store, srcParent, srcName, dst!.fid);
    moveSubdirLink(dst!, dp, sp);
    touchInode(m.store, dst!, t);
  }
  addDentry(m.store, dstParent, dstName, src.fid);
  moveSubdirLink(src, sp, dp);
  touchInode(m.store, src, t);
  for (const p of parents.values()) {
    p.mtime = t;
    p.ctime = t;
    putInode(m.store, p);
  }
}

function side(store: Store, inode: Inode): RenameSide {
  return { fid: inode.fid, dir: isDir(inode), empty: !isDir(inode) || !hasEntries(store, inode.fid) };
}

/** A directory moving from `from` to `to` takes its '..' link along. */
function moveSubdirLink(moved: Inode, from: Inode, to: Inode): void {
  if (!isDir(moved) || from === to) return;
  from.nlink--;
  to.nlink++;
}

function touchInode(store: Store, inode: Inode, t: TimespecValue): void {
  inode.ctime = t;
  putInode(store, inode);
}
