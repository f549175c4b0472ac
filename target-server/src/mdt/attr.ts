import { KlError } from '@kubelustre/protocol/errors.ts';
import type { setattr as setattrOp, sizeUpdate as sizeUpdateOp } from '@kubelustre/protocol/messages/mdt.ts';
import type { RequestOf } from '@kubelustre/protocol/messages/op.ts';
import { domBytes, domEnd, truncateDom } from './dom.ts';
import {
  fileBlocks,
  type Inode,
  isDir,
  isReg,
  type NodeValue,
  now,
  putInode,
  requireInode,
  S_IFMT,
  type TimespecValue,
  timeAfter,
  toNode,
} from './inodes.ts';
import type { Store } from './store.ts';

type SetattrRequest = RequestOf<typeof setattrOp>;

/**
 * chmod, chown, truncate, utimens and project id changes. Any change sets ctime; a size change also sets
 * mtime unless the request sets it. Permission checks (who may chown, setuid clearing) are the client's:
 * it knows the caller's credentials, and the MDT trusts authenticated clients.
 */
export function setattr(store: Store, req: SetattrRequest): NodeValue {
  const inode = requireInode(store, req.fid);
  const t = now();
  if (req.size !== undefined) truncate(store, inode, req.size, t);
  if (req.mode !== undefined) inode.mode = (inode.mode & S_IFMT) | req.mode;
  if (req.uid !== undefined) inode.uid = req.uid;
  if (req.gid !== undefined) inode.gid = req.gid;
  if (req.projid !== undefined) inode.projid = req.projid;
  if (req.atime !== undefined) inode.atime = req.atime === 'now' ? t : req.atime;
  if (req.mtime !== undefined) inode.mtime = req.mtime === 'now' ? t : req.mtime;
  inode.ctime = t;
  putInode(store, inode);
  return toNode(inode);
}

function truncate(store: Store, inode: Inode, size: number, t: TimespecValue): void {
  if (isDir(inode)) throw new KlError('EISDIR', `${inode.fid} is a directory: it has no size to set`);
  if (!isReg(inode)) throw new KlError('EINVAL', `${inode.fid} is not a regular file: it has no size to set`);
  if (size < inode.size && domEnd(inode) !== undefined) truncateDom(store, inode.fid, size);
  inode.size = size;
  inode.mtime = t;
  inode.blocks = fileBlocks(inode, domBytes(store, inode.fid));
}

/**
 * The client's report after writing OST objects: raises the size (never lowers it) and sets mtime to
 * when it wrote; ctime moves with it but never backwards (a chmod after the write stays visible).
 */
export function sizeUpdate(store: Store, req: RequestOf<typeof sizeUpdateOp>): NodeValue {
  const inode = requireInode(store, req.fid);
  if (!isReg(inode))
    throw new KlError('EINVAL', `${inode.fid} is not a regular file: it has no size to update`);
  if (req.size > inode.size) {
    inode.size = req.size;
    inode.blocks = fileBlocks(inode, domBytes(store, inode.fid));
  }
  inode.mtime = req.mtime;
  if (timeAfter(req.mtime, inode.ctime)) inode.ctime = req.mtime;
  putInode(store, inode);
  return toNode(inode);
}
