import { KlError } from '@kubelustre/protocol/errors.ts';
import type { Layout } from '@kubelustre/protocol/layout/index.ts';
import { logForDestroy } from './destroy-worker.ts';
import { ROOT_FID } from './fid.ts';
import { isDir, isReg, now, putInode, requireInode } from './inodes.ts';
import { hasObjects, layoutObjects, notRegularLayoutError } from './layouts.ts';
import type { Mdt } from './namespace.ts';

/**
 * mdt.layout_intent: instantiates the components a write to [start, end) overlaps. Runs inside the
 * caller's transaction; throws PoolShortage (after which the caller waits and retries) when object ids
 * must be waited for.
 */
export function layoutIntent(m: Mdt, fid: string, start: number, end: number): Layout {
  const inode = requireInode(m.store, fid);
  if (!isReg(inode) || inode.layout === undefined) {
    throw new KlError('EINVAL', `${fid} is not a regular file: it has no layout to instantiate`);
  }
  if (end <= start) throw new KlError('EINVAL', `empty write range [${start}, ${end}) on ${fid}`);
  const result = m.layouts.instantiate(inode.layout, start, end);
  if (!result.changed) return inode.layout;
  inode.layout = result.layout;
  putInode(m.store, inode);
  return inode.layout;
}

/**
 * mdt.set_layout (lfs setstripe, or setting lustre.lov). A regular file's layout can be replaced only while
 * the file is empty; otherwise EEXIST ("stripe already set"). Lustre refuses any file that has a layout and
 * relies on O_LOV_DELAY_CREATE instead; we instantiate at create, so an empty file's objects (never written
 * to, or holding nothing that counts) are handed to the destroy log and the new layout takes over. A
 * directory's default layout is set, or with no layout removed; the root's default is the filesystem default.
 */
export function setLayout(m: Mdt, fid: string, requested: Layout | undefined): Layout | undefined {
  const inode = requireInode(m.store, fid);
  if (isDir(inode)) {
    if (requested === undefined) delete inode.dirLayout;
    else inode.dirLayout = m.layouts.directoryDefault(requested, inode.dirLayout);
    inode.ctime = now();
    putInode(m.store, inode);
    return inode.dirLayout;
  }
  if (!isReg(inode)) throw notRegularLayoutError(fid);
  if (requested === undefined)
    throw new KlError('EINVAL', `${fid}: a regular file's layout cannot be removed`);
  if (inode.size > 0) throw new KlError('EEXIST', `${fid}: stripe already set (the file has data)`);
  const root = requireInode(m.store, ROOT_FID);
  const old = inode.layout ?? { composite: false, generation: 0, components: [] };
  inode.layout = m.layouts.replacement(requested, old, m.layouts.rootDefault(root.dirLayout));
  if (hasObjects(old)) {
    logForDestroy(m.store, layoutObjects(old));
    m.destroyLogged();
  }
  inode.ctime = now();
  putInode(m.store, inode);
  return inode.layout;
}
