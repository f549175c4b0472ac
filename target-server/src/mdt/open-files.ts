import { KlError } from '@kubelustre/protocol/errors.ts';
import { logForDestroy } from './destroy-worker.ts';
import { deleteDom } from './dom.ts';
import {
  addInodeCount,
  getInode,
  type Inode,
  isDir,
  isReg,
  isSymlink,
  type NodeValue,
  putInode,
  requireInode,
  type TimespecValue,
  toNode,
} from './inodes.ts';
import { layoutObjects } from './layouts.ts';
import type { Mdt } from './namespace.ts';
import {
  dropClientPcc,
  dropFilePcc,
  endWriteAtClose,
  isPccTracked,
  requireNotCachedElsewhere,
} from './pcc.ts';
import type { Store } from './store.ts';

/*
 * Open files and orphans, as Lustre's MDT keeps them. Each client that has a regular file open holds one
 * row in `opens` (the client counts its own handles: one mdt.open on the first, one mdt.close after the
 * last). Unlinking (or renaming over) the last name of a file some client has open does not free it: the
 * inode stays with nlink 0 and its objects, listed in `orphans` (Lustre's PENDING directory), so every
 * open handle keeps reading and writing it. The close that drops the last open frees the inode and puts
 * its objects in the destroy log in its own transaction, so the cleanup survives any crash after it.
 * Opens live in the store, so an MDT restart keeps orphans pinned for their clients; a client that goes
 * silent loses its opens by eviction (leases.ts).
 */

/**
 * mdt.open: records that `client` has regular file `fid` open; answers the file's node. Other types get
 * the errors an open by handle (O_NOFOLLOW) gets: EISDIR, ELOOP for a symlink, ENXIO for special files
 * (whose data is not ours to serve).
 */
export function openFile(store: Store, fid: string, client: string, write = false): NodeValue {
  const inode = requireInode(store, fid);
  if (isDir(inode)) throw new KlError('EISDIR', `${fid} is a directory: only regular files are opened`);
  if (isSymlink(inode)) throw new KlError('ELOOP', `${fid} is a symlink: it is not followed by FID`);
  if (!isReg(inode)) throw new KlError('ENXIO', `${fid} is a special file: it has no data here`);
  requireNotCachedElsewhere(store, fid, client);
  store.run('INSERT OR IGNORE INTO opens (fid, client) VALUES (?, ?)', fid, client);
  if (write) store.run('INSERT OR IGNORE INTO open_writes (fid, client) VALUES (?, ?)', fid, client);
  return toNode(inode);
}

/**
 * mdt.open2 and mdt.create_open2: mdt.open with the access mode. An open for write counts as a writer
 * of the file until the client's close (pcc.ts: attaches are refused meanwhile); `pccTracked` says
 * whether some client holds (or is making) a PCC copy of it, i.e. whether its writes must be announced.
 */
export function openFileForAccess(
  store: Store,
  fid: string,
  client: string,
  write: boolean,
): { node: NodeValue; pccTracked: boolean } {
  const node = openFile(store, fid, client, write);
  return { node, pccTracked: isPccTracked(store, fid) };
}

/** mdt.close: drops `client`'s open of `fid`; the last close of an orphan frees it. Idempotent. */
export function closeFile(m: Mdt, fid: string, client: string): void {
  if (m.store.run('DELETE FROM opens WHERE fid = ? AND client = ?', fid, client) === 0) return;
  m.store.run('DELETE FROM open_writes WHERE fid = ? AND client = ?', fid, client);
  endWriteAtClose(m.store, fid, client);
  releaseIfUnopenedOrphan(m, fid);
}

/** The last name of `inode` is gone: free it, or keep it as an orphan while a client has it open. */
export function dropLastLink(m: Mdt, inode: Inode, t: TimespecValue): void {
  if (!isReg(inode) || !isOpen(m.store, inode.fid)) {
    releaseInode(m, inode);
    return;
  }
  inode.nlink = 0;
  inode.ctime = t;
  putInode(m.store, inode);
  m.store.run('INSERT OR IGNORE INTO orphans (fid) VALUES (?)', inode.fid);
}

/**
 * Eviction of `client`: drops every open it held and frees the orphans only it kept. Answers how many
 * opens were dropped and how many orphans freed.
 */
export function dropClientOpens(m: Mdt, client: string): { opens: number; orphansFreed: number } {
  const fids = m.store.all('SELECT fid FROM opens WHERE client = ?', client).map((r) => r.fid as string);
  m.store.run('DELETE FROM opens WHERE client = ?', client);
  m.store.run('DELETE FROM open_writes WHERE client = ?', client);
  dropClientPcc(m.store, client);
  let orphansFreed = 0;
  for (const fid of fids) if (releaseIfUnopenedOrphan(m, fid)) orphansFreed++;
  return { opens: fids.length, orphansFreed };
}

/** Frees orphans nobody has open (left by a store written before opens were kept); answers how many. */
export function releaseUnopenedOrphans(m: Mdt): number {
  const fids = m.store
    .all('SELECT fid FROM orphans WHERE fid NOT IN (SELECT fid FROM opens)')
    .map((r) => r.fid as string);
  for (const fid of fids) releaseIfUnopenedOrphan(m, fid);
  return fids.length;
}

/** Clients holding at least one open: the ones whose leases matter. */
export function clientsWithOpens(store: Store): string[] {
  return store.all('SELECT DISTINCT client FROM opens').map((r) => r.client as string);
}

export function orphanCount(store: Store): number {
  return store.get('SELECT count(*) AS n FROM orphans')?.n as number;
}

export function openCount(store: Store): number {
  return store.get('SELECT count(*) AS n FROM opens')?.n as number;
}

function isOpen(store: Store, fid: string): boolean {
  return store.get('SELECT 1 AS x FROM opens WHERE fid = ? LIMIT 1', fid) !== undefined;
}

function releaseIfUnopenedOrphan(m: Mdt, fid: string): boolean {
  if (isOpen(m.store, fid)) return false;
  if (m.store.run('DELETE FROM orphans WHERE fid = ?', fid) === 0) return false;
  const inode = getInode(m.store, fid);
  if (inode !== undefined) releaseInode(m, inode);
  return true;
}

/** Frees an inode that has no names left; its OST objects go to the destroy log in this transaction. */
function releaseInode(m: Mdt, inode: Inode): void {
  m.store.run('DELETE FROM inodes WHERE fid = ?', inode.fid);
  m.store.run('DELETE FROM xattrs WHERE fid = ?', inode.fid);
  m.store.run('DELETE FROM project_inherit WHERE fid = ?', inode.fid);
  dropFilePcc(m.store, inode.fid);
  deleteDom(m.store, inode.fid);
  addInodeCount(m.store, -1);
  const objects = layoutObjects(inode.layout);
  if (objects.length === 0) return;
  logForDestroy(m.store, objects);
  m.destroyLogged();
}
