import { KlError } from '@kubelustre/protocol/errors.ts';
import { subdirectoryDefault } from '@kubelustre/protocol/layout/index.ts';
import type {
  create as createOp,
  DirEntry,
  readdir as readdirOp,
} from '@kubelustre/protocol/messages/mdt.ts';
import type { RequestOf } from '@kubelustre/protocol/messages/op.ts';
import type { Static } from '@sinclair/typebox';
import { addDentry, hasEntries, listDentries, lookupDentry, parentOf, removeDentry } from './dentries.ts';
import { fidToIno, parseFid, ROOT_FID } from './fid.ts';
import {
  addInodeCount,
  allocateFid,
  blocksFor,
  getInode,
  type Inode,
  inodeCount,
  isDir,
  isReg,
  isSymlink,
  LINK_MAX,
  type NodeValue,
  newInode,
  now,
  putInode,
  requestedType,
  requireDir,
  requireInode,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFREG,
  type TimespecValue,
  toNode,
  touchDir,
} from './inodes.ts';
import type { LayoutPolicy } from './layouts.ts';
import { checkName, dotRemovalError, isDotName } from './names.ts';
import { dropLastLink } from './open-files.ts';
import { inheritProject } from './projects.ts';
import { checkInodeQuota } from './quota-limits.ts';
import type { Store } from './store.ts';

/** What namespace operations work on: the store, the layout policy and the limits. */
export interface Mdt {
  store: Store;
  layouts: LayoutPolicy;
  /** Inodes this MDT holds at most (statfs's files; create answers ENOSPC beyond). */
  inodesMax: number;
  /** Wakes the destroy worker; safe to call inside a transaction (it runs only after it ends). */
  destroyLogged: () => void;
}

type CreateRequest = RequestOf<typeof createOp>;
type DirEntryValue = Static<typeof DirEntry>;
/** A directory's st_blocks: one 4 KiB block, as ext4 reports for a small directory. */
const DIR_BLOCKS = blocksFor(1);

/** Creates the root directory of a new MDT (idempotent). */
export function ensureRoot(store: Store): void {
  if (getInode(store, ROOT_FID)) return;
  const t = now();
  store.txn(() => {
    const root = newInode(ROOT_FID, fidToIno(parseFid(ROOT_FID)), S_IFDIR | 0o755, t);
    putInode(store, { ...root, size: 4096, blocks: DIR_BLOCKS });
    store.setMeta('inode_count', '1');
  });
}

export function lookup(m: Mdt, parent: string, name: string): NodeValue {
  const dir = requireDir(m.store, parent);
  if (name === '.') return toNode(dir);
  if (name === '..') return toNode(requireInode(m.store, parentOf(m.store, parent)?.parent ?? ROOT_FID));
  checkName(name, parent);
  const child = lookupDentry(m.store, parent, name);
  if (child === undefined) throw new KlError('ENOENT', `no entry "${name}" in ${parent}`);
  return toNode(requireInode(m.store, child));
}

/** mkdir, mknod, symlink and open(O_CREAT): one new inode and its first name. */
export function create(m: Mdt, req: CreateRequest): NodeValue {
  checkName(req.name, req.parent);
  const dir = requireDir(m.store, req.parent);
  const type = requestedType(req.mode);
  const existing = lookupDentry(m.store, req.parent, req.name);
  if (existing !== undefined) return existingEntry(m, req, type, existing);
  if (inodeCount(m.store) >= m.inodesMax) {
    throw new KlError('ENOSPC', `MDT holds its maximum of ${m.inodesMax} inodes`);
  }
  const inode = inodeFor(m, req, type, dir);
  inheritProject(m.store, dir, inode);
  checkInodeQuota(m.store, inode.projid);
  putInode(m.store, inode);
  addInodeCount(m.store, 1);
  addDentry(m.store, dir.fid, req.name, inode.fid);
  if (type === S_IFDIR) dir.nlink++;
  touchDir(m.store, dir, inode.ctime);
  return toNode(inode);
}

/** Non-exclusive create of an existing name: open(O_CREAT) of a regular file returns it. */
function existingEntry(m: Mdt, req: CreateRequest, type: number, fid: string): NodeValue {
  const inode = requireInode(m.store, fid);
  const where = `"${req.name}" in ${req.parent}`;
  if (req.exclusive || type !== S_IFREG) throw new KlError('EEXIST', `${where} already exists`);
  if (isDir(inode)) throw new KlError('EISDIR', `${where} is a directory`);
  if (!isReg(inode)) throw new KlError('EEXIST', `${where} already exists and is not a regular file`);
  return toNode(inode);
}

function inodeFor(m: Mdt, req: CreateRequest, type: number, dir: Inode): Inode {
  if ((type === S_IFLNK) !== (req.target !== undefined)) {
    throw new KlError('EINVAL', `"${req.name}": a symlink needs a target and only a symlink takes one`);
  }
  if (req.layout !== undefined && type !== S_IFREG) {
    throw new KlError('EINVAL', `"${req.name}": only a regular file takes a layout at create`);
  }
  const { fid, ino } = allocateFid(m.store);
  const t = now();
  const perm = type === S_IFLNK ? 0o777 : req.mode & 0o7777;
  const special = type === S_IFCHR || type === S_IFBLK;
  const inode = newInode(fid, ino, type | perm, t);
  inode.uid = req.uid;
  inode.gid = req.gid;
  if (special) inode.rdev = req.rdev ?? 0;
  if (type === S_IFLNK) {
    inode.symlink = req.target!;
    inode.size = Buffer.byteLength(req.target!, 'utf8');
  } else if (type === S_IFDIR) {
    inode.size = 4096;
    inode.blocks = DIR_BLOCKS;
    const dirLayout = subdirectoryDefault(dir.dirLayout, dir.fid === ROOT_FID);
    if (dirLayout !== undefined) inode.dirLayout = dirLayout;
  } else if (type === S_IFREG) {
    const root = dir.fid === ROOT_FID ? dir : requireInode(m.store, ROOT_FID);
    const rootDefault = m.layouts.rootDefault(root.dirLayout);
    inode.layout = m.layouts.forNewFile(
      req.layout,
      dir.fid === ROOT_FID ? undefined : dir.dirLayout,
      rootDefault,
    );
  }
  return inode;
}

/** unlink(2) (`dir` false) and rmdir(2) (`dir` true). */
export function unlink(m: Mdt, parent: string, name: string, dir: boolean): void {
  if (isDotName(name)) throw dotRemovalError(name as '.' | '..', dir, parent);
  checkName(name, parent);
  const parentDir = requireDir(m.store, parent);
  const fid = lookupDentry(m.store, parent, name);
  if (fid === undefined) throw new KlError('ENOENT', `no entry "${name}" in ${parent}`);
  const inode = requireInode(m.store, fid);
  checkRemovable(m.store, inode, dir, `"${name}" in ${parent}`);
  removeDentry(m.store, parent, name);
  const t = now();
  if (isDir(inode)) parentDir.nlink--;
  dropLink(m, inode, t);
  touchDir(m.store, parentDir, t);
}

/** The errors unlink/rmdir (and rename over an existing entry) give for `inode` named `where`. */
export function checkRemovable(store: Store, inode: Inode, dir: boolean, where: string): void {
  if (dir && !isDir(inode)) throw new KlError('ENOTDIR', `${where} is not a directory`);
  if (!dir && isDir(inode)) throw new KlError('EISDIR', `${where} is a directory`);
  if (dir && hasEntries(store, inode.fid)) throw new KlError('ENOTEMPTY', `directory ${where} is not empty`);
}

/**
 * Removes one name's link to `inode`. The last one (or a directory's only one) releases the inode, unless
 * some client has the file open: then it stays as an orphan until the last close (see open-files.ts).
 */
export function dropLink(m: Mdt, inode: Inode, t: TimespecValue): void {
  if (isDir(inode) || inode.nlink <= 1) {
    dropLastLink(m, inode, t);
    return;
  }
  inode.nlink--;
  inode.ctime = t;
  putInode(m.store, inode);
}

/** link(2): a new name for an existing non-directory. */
export function link(m: Mdt, fid: string, parent: string, name: string): NodeValue {
  checkName(name, parent);
  const inode = requireInode(m.store, fid);
  if (isDir(inode)) throw new KlError('EPERM', `${fid} is a directory: directories cannot be hard linked`);
  // As linkat(2) on an unlinked open file: only O_TMPFILE files may get a name back.
  if (inode.nlink === 0) throw new KlError('ENOENT', `${fid} was unlinked: it cannot be linked again`);
  const dir = requireDir(m.store, parent);
  if (lookupDentry(m.store, parent, name) !== undefined) {
    throw new KlError('EEXIST', `"${name}" in ${parent} already exists`);
  }
  if (inode.nlink >= LINK_MAX) throw new KlError('EMLINK', `${fid} already has ${LINK_MAX} links`);
  const t = now();
  addDentry(m.store, parent, name, fid);
  inode.nlink++;
  inode.ctime = t;
  putInode(m.store, inode);
  touchDir(m.store, dir, t);
  return toNode(inode);
}

export function readdir(
  m: Mdt,
  req: RequestOf<typeof readdirOp>,
): { entries: DirEntryValue[]; eof: boolean } {
  requireDir(m.store, req.fid);
  const rows = listDentries(m.store, req.fid, req.cookie, req.countMax + 1);
  const entries: DirEntryValue[] = [];
  for (const d of rows.slice(0, req.countMax)) {
    const inode = requireInode(m.store, d.child);
    const entry: DirEntryValue = {
      name: d.name,
      fid: d.child,
      ino: inode.ino,
      mode: inode.mode,
      cookie: d.cookie,
    };
    if (req.plus) entry.node = toNode(inode);
    entries.push(entry);
  }
  return { entries, eof: rows.length <= req.countMax };
}

export function readlink(m: Mdt, fid: string): string {
  const inode = requireInode(m.store, fid);
  if (!isSymlink(inode)) throw new KlError('EINVAL', `${fid} is not a symbolic link`);
  return inode.symlink!;
}

/** Deepest directory nesting fid2path follows: a bound against a corrupted (cyclic) tree. */
const PATH_DEPTH_MAX = 4096;

/** One path of `fid` from the filesystem root ("/" for the root itself). */
export function fid2path(m: Mdt, fid: string): string {
  requireInode(m.store, fid);
  const names: string[] = [];
  for (let at = fid; at !== ROOT_FID; ) {
    const up = parentOf(m.store, at);
    if (up === undefined) throw new KlError('ENOENT', `${at} is not linked into the namespace`);
    if (names.length === PATH_DEPTH_MAX)
      throw new KlError('ELOOP', `${fid} is nested over ${PATH_DEPTH_MAX} deep`);
    names.push(up.name);
    at = up.parent;
  }
  return `/${names.reverse().join('/')}`;
}
