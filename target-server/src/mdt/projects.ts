import { KlError } from '@kubelustre/protocol/errors.ts';
import { listDentries } from './dentries.ts';
import { type Inode, isDir, now, putInode, requireInode } from './inodes.ts';
import type { Store } from './store.ts';

/** Inodes one recursive mdt.set_project changes at most, in its one transaction. */
export const SET_PROJECT_INODES_MAX = 100_000;
/** Entries read per directory page while walking a tree. */
const PAGE_ENTRIES = 1024;

export interface SetProjectRequest {
  fid: string;
  projid: number;
  inherit: boolean;
  recursive: boolean;
}

/** Whether new children of directory `fid` take its project id (Lustre's inherit flag, `lfs project -s`). */
export function inheritsProject(store: Store, fid: string): boolean {
  return store.get('SELECT 1 AS x FROM project_inherit WHERE fid = ?', fid) !== undefined;
}

/** `lfs project -d`: the inode's project id and inherit flag. */
export function getProject(store: Store, fid: string): { projid: number; inherit: boolean } {
  const inode = requireInode(store, fid);
  return { projid: inode.projid, inherit: inheritsProject(store, fid) };
}

/**
 * A new inode's project, as ext4 and Lustre give it: a child of a directory with the inherit flag takes
 * the directory's project id, and a new subdirectory also takes the flag. Called in the create's
 * transaction, before the inode row is written.
 */
export function inheritProject(store: Store, parent: Inode, child: Inode): void {
  if (!inheritsProject(store, parent.fid)) return;
  child.projid = parent.projid;
  if (isDir(child)) store.run('INSERT OR IGNORE INTO project_inherit (fid) VALUES (?)', child.fid);
}

/**
 * `lfs project -p ID [-s|-C] [-r]`: sets the project id of `fid` (and with `recursive`, of every inode
 * below it), and on directories sets or clears the inherit flag. One transaction: all or nothing, so at
 * most SET_PROJECT_INODES_MAX inodes (EOVERFLOW beyond: tag the tree in parts). Answers how many changed.
 */
export function setProject(store: Store, req: SetProjectRequest): number {
  const root = requireInode(store, req.fid);
  const t = now();
  let changed = 0;
  const pending = [root];
  for (let inode = pending.pop(); inode !== undefined; inode = pending.pop()) {
    if (++changed > SET_PROJECT_INODES_MAX) {
      throw new KlError(
        'EOVERFLOW',
        `${req.fid} has over ${SET_PROJECT_INODES_MAX} inodes below it: tag it in parts`,
      );
    }
    tagInode(store, inode, req, t);
    if (req.recursive && isDir(inode)) pending.push(...childrenOf(store, inode.fid));
  }
  return changed;
}

function tagInode(store: Store, inode: Inode, req: SetProjectRequest, t: Inode['ctime']): void {
  if (isDir(inode)) {
    if (req.inherit) store.run('INSERT OR IGNORE INTO project_inherit (fid) VALUES (?)', inode.fid);
    else store.run('DELETE FROM project_inherit WHERE fid = ?', inode.fid);
  }
  if (inode.projid === req.projid) return;
  inode.projid = req.projid;
  inode.ctime = t;
  putInode(store, inode);
}

function childrenOf(store: Store, dir: string): Inode[] {
  const children: Inode[] = [];
  for (let cookie = 0; ; ) {
    const page = listDentries(store, dir, cookie, PAGE_ENTRIES);
    for (const d of page) children.push(requireInode(store, d.child));
    if (page.length < PAGE_ENTRIES) return children;
    cookie = page.at(-1)!.cookie;
  }
}
