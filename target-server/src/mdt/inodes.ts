import { KlError } from '@kubelustre/protocol/errors.ts';
import { EOF_EXTENT, type Layout } from '@kubelustre/protocol/layout/index.ts';
import type { Attr, Node, Timespec } from '@kubelustre/protocol/messages/mdt.ts';
import {
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
} from '@kubelustre/protocol/mode-bits.ts';
import type { Static } from '@sinclair/typebox';
import { fidToIno, formatFid, nextFid, parseFid } from './fid.ts';
import type { Row, Store } from './store.ts';

export type TimespecValue = Static<typeof Timespec>;
export type AttrValue = Static<typeof Attr>;
export type NodeValue = Static<typeof Node>;

export { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK };

const FILE_TYPES = new Set([S_IFSOCK, S_IFLNK, S_IFREG, S_IFBLK, S_IFDIR, S_IFCHR, S_IFIFO]);

/** ext4's EXT4_LINK_MAX: the most hard links one inode takes (link answers EMLINK beyond it). */
export const LINK_MAX = 65000;

export interface Inode {
  fid: string;
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  blocks: number;
  atime: TimespecValue;
  mtime: TimespecValue;
  ctime: TimespecValue;
  projid: number;
  /** A regular file's layout (lustre.lov). */
  layout?: Layout;
  symlink?: string;
  /** A directory's default layout for new files (lfs setstripe on a directory). */
  dirLayout?: Layout;
}

export function fileType(mode: number): number {
  return mode & S_IFMT;
}

export const isDir = (i: Inode): boolean => fileType(i.mode) === S_IFDIR;
export const isReg = (i: Inode): boolean => fileType(i.mode) === S_IFREG;
export const isSymlink = (i: Inode): boolean => fileType(i.mode) === S_IFLNK;

/** The S_IF* type of a create request's mode: 0 means a regular file, as for mknod(2). */
export function requestedType(mode: number): number {
  const type = fileType(mode) || S_IFREG;
  if (!FILE_TYPES.has(type)) throw new KlError('EINVAL', `mode 0${mode.toString(8)} has no valid file type`);
  return type;
}

/** The current time as a Timespec (microsecond resolution from the monotonic-anchored clock). */
export function now(): TimespecValue {
  const ns = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
  return { sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) };
}

export function timeAfter(a: TimespecValue, b: TimespecValue): boolean {
  return a.sec > b.sec || (a.sec === b.sec && a.nsec > b.nsec);
}

/** st_blocks (512-byte units): data rounded up to 4 KiB blocks, like a block filesystem reports. */
export function blocksFor(bytes: number): number {
  return Math.ceil(bytes / 4096) * 8;
}

/** Hands out the next FID; the last one handed out is stored in the same transaction as the create. */
export function allocateFid(store: Store): { fid: string; ino: number } {
  const last = store.getMeta('last_fid');
  const next = nextFid(last === undefined ? undefined : parseFid(last));
  const fid = formatFid(next);
  store.setMeta('last_fid', fid);
  return { fid, ino: fidToIno(next) };
}

/** Inodes in use, orphans included (statfs's files in use; create's limit). */
export function inodeCount(store: Store): number {
  return Number(store.getMeta('inode_count') ?? '0');
}

export function addInodeCount(store: Store, delta: number): void {
  store.setMeta('inode_count', String(inodeCount(store) + delta));
}

/** A new inode of `mode` with one link (two for a directory), owned by root, all times `t`. */
export function newInode(fid: string, ino: number, mode: number, t: TimespecValue): Inode {
  const nlink = fileType(mode) === S_IFDIR ? 2 : 1;
  const zero = { uid: 0, gid: 0, rdev: 0, size: 0, blocks: 0, projid: 0 };
  return { fid, ino, mode, nlink, ...zero, atime: t, mtime: t, ctime: t };
}

function fromRow(r: Row): Inode {
  const inode: Inode = {
    fid: r.fid as string,
    ino: r.ino as number,
    mode: r.mode as number,
    nlink: r.nlink as number,
    uid: r.uid as number,
    gid: r.gid as number,
    rdev: r.rdev as number,
    size: r.size as number,
    blocks: r.blocks as number,
    atime: { sec: r.atime_sec as number, nsec: r.atime_nsec as number },
    mtime: { sec: r.mtime_sec as number, nsec: r.mtime_nsec as number },
    ctime: { sec: r.ctime_sec as number, nsec: r.ctime_nsec as number },
    projid: r.projid as number,
  };
  if (r.layout !== null) inode.layout = JSON.parse(r.layout as string);
  if (r.symlink !== null) inode.symlink = r.symlink as string;
  if (r.dir_layout !== null) inode.dirLayout = JSON.parse(r.dir_layout as string);
  return inode;
}

export function getInode(store: Store, fid: string): Inode | undefined {
  const r = store.get('SELECT * FROM inodes WHERE fid = ?', fid);
  return r === undefined ? undefined : fromRow(r);
}

export function requireInode(store: Store, fid: string): Inode {
  const inode = getInode(store, fid);
  if (!inode) throw new KlError('ENOENT', `no inode with FID ${fid}`);
  return inode;
}

export function requireDir(store: Store, fid: string): Inode {
  const dir = requireInode(store, fid);
  if (!isDir(dir)) throw new KlError('ENOTDIR', `FID ${fid} is not a directory`);
  return dir;
}

/** Inserts or rewrites an inode row. */
export function putInode(store: Store, i: Inode): void {
  store.run(
    `INSERT OR REPLACE INTO inodes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    i.fid,
    i.ino,
    i.mode,
    i.nlink,
    i.uid,
    i.gid,
    i.rdev,
    i.size,
    i.blocks,
    i.atime.sec,
    i.atime.nsec,
    i.mtime.sec,
    i.mtime.nsec,
    i.ctime.sec,
    i.ctime.nsec,
    i.projid,
    i.layout === undefined ? null : JSON.stringify(i.layout),
    i.symlink ?? null,
    i.dirLayout === undefined ? null : JSON.stringify(i.dirLayout),
  );
}

export function toAttr(i: Inode): AttrValue {
  const { fid, ino, mode, nlink, uid, gid, rdev, size, blocks, atime, mtime, ctime, projid } = i;
  return { fid, ino, mode, nlink, uid, gid, rdev, size, blocks, atime, mtime, ctime, projid };
}

export function toNode(i: Inode): NodeValue {
  return i.layout === undefined ? { attr: toAttr(i) } : { attr: toAttr(i), layout: i.layout };
}

/**
 * st_blocks of a regular file: the DoM bytes it holds plus its OST part estimated from the size (the MDT
 * does not see OST allocation; clients that need exact numbers ask the OSTs with ost.getattr).
 */
export function fileBlocks(i: Inode, domBytes: number): number {
  const dom = i.layout?.components[0];
  const domEnd = dom?.pattern === 'mdt' && dom.end !== EOF_EXTENT ? dom.end : 0;
  return blocksFor(domBytes) + blocksFor(Math.max(0, i.size - domEnd));
}

/** Sets ctime (and mtime) to now: a directory whose entries changed. */
export function touchDir(store: Store, dir: Inode, t: TimespecValue): void {
  dir.mtime = t;
  dir.ctime = t;
  putInode(store, dir);
}
