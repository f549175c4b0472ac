import { KlError } from '@kubelustre/protocol/errors.ts';
import { canReadWith, canWriteWith, isDir, isReg, O_TRUNC, S_ISGID, S_ISUID, S_ISVTX } from './mode.ts';

/**
 * Who asks. The MDT trusts the client (as Lustre's MDT trusts a client's credentials), so the client
 * makes the checks the kernel's VFS makes for a local filesystem, with these ids.
 */
export interface Caller {
  uid: number;
  gid: number;
  /** Supplementary groups. */
  groups: readonly number[];
}

export const ROOT_CALLER: Caller = { uid: 0, gid: 0, groups: [] };

/** The parts of an inode's attributes the checks read. */
export interface Ownership {
  mode: number;
  uid: number;
  gid: number;
}

/** Access mask bits, as access(2)'s R_OK/W_OK/X_OK. */
export const MAY_READ = 4;
export const MAY_WRITE = 2;
export const MAY_EXEC = 1;

export const isRoot = (caller: Caller): boolean => caller.uid === 0;

export function inGroup(caller: Caller, gid: number): boolean {
  return caller.gid === gid || caller.groups.includes(gid);
}

/**
 * The kernel's generic_permission without ACLs: exactly one class (owner, group, other) applies. Root
 * reads and writes anything, and executes a file only when some execute bit is set (directories always).
 */
export function hasAccess(attr: Ownership, caller: Caller, mask: number): boolean {
  if (isRoot(caller)) {
    if ((mask & MAY_EXEC) === 0 || isDir(attr.mode)) return true;
    return (attr.mode & 0o111) !== 0;
  }
  let granted: number;
  if (caller.uid === attr.uid) granted = (attr.mode >> 6) & 7;
  else if (inGroup(caller, attr.gid)) granted = (attr.mode >> 3) & 7;
  else granted = attr.mode & 7;
  return (granted & mask) === mask;
}

export function checkAccess(attr: Ownership, caller: Caller, mask: number, what: string): void {
  if (!hasAccess(attr, caller, mask)) {
    throw new KlError('EACCES', `uid ${caller.uid} may not ${maskText(mask)} ${what}`);
  }
}

/** Search permission on each directory a path walk passes through. */
export function checkSearch(dir: Ownership, caller: Caller, what: string): void {
  if (!isDir(dir.mode)) throw new KlError('ENOTDIR', `${what} is not a directory`);
  checkAccess(dir, caller, MAY_EXEC, what);
}

/** Adding an entry (create, mkdir, link, symlink, rename target): write and search on the parent. */
export function checkCanAddEntry(dir: Ownership, caller: Caller, what: string): void {
  if (!isDir(dir.mode)) throw new KlError('ENOTDIR', `${what} is not a directory`);
  checkAccess(dir, caller, MAY_WRITE | MAY_EXEC, what);
}

/** Whether removing from `dir` depends on who owns the victim: only then need it be looked up. */
export function stickyApplies(dir: Ownership, caller: Caller): boolean {
  return (dir.mode & S_ISVTX) !== 0 && !isRoot(caller) && caller.uid !== dir.uid;
}

/**
 * Removing an entry (unlink, rmdir, rename source or replaced target): write and search on the parent,
 * and in a sticky directory only the victim's owner, the directory's owner or root may (EPERM).
 */
export function checkCanRemoveEntry(
  dir: Ownership,
  victim: Ownership | undefined,
  caller: Caller,
  what: string,
): void {
  checkCanAddEntry(dir, caller, what);
  if (stickyApplies(dir, caller) && victim !== undefined && victim.uid !== caller.uid) {
    throw new KlError('EPERM', `${what} is sticky and uid ${caller.uid} owns neither it nor the entry`);
  }
}

/**
 * Moving a directory to another parent rewrites its "..", so the kernel wants write permission on the
 * directory itself too.
 */
export function checkCanReparent(moved: Ownership, caller: Caller, what: string): void {
  if (isDir(moved.mode)) checkAccess(moved, caller, MAY_WRITE, what);
}

/** open(2): read and/or write permission by the access mode; O_TRUNC needs write too. */
export function checkOpen(attr: Ownership, caller: Caller, flags: number, what: string): void {
  let mask = 0;
  if (canReadWith(flags)) mask |= MAY_READ;
  if (canWriteWith(flags) || (flags & O_TRUNC) !== 0) mask |= MAY_WRITE;
  checkAccess(attr, caller, mask, what);
}

/**
 * Owner, group and permission bits of a new inode (the kernel's inode_init_owner): the caller's ids, but
 * the group of a set-group-id parent, whose new subdirectories stay set-group-id too (BSD group
 * semantics). A caller outside the new file's group loses set-group-id on it.
 */
export function newInodeOwnership(
  parent: Ownership,
  caller: Caller,
  mode: number,
): { uid: number; gid: number; mode: number } {
  let gid = caller.gid;
  let newMode = mode;
  if ((parent.mode & S_ISGID) !== 0) {
    gid = parent.gid;
    if (isDir(mode)) newMode |= S_ISGID;
  }
  if (!isDir(mode) && (newMode & S_ISGID) !== 0 && !isRoot(caller) && !inGroup(caller, gid)) {
    newMode &= ~S_ISGID;
  }
  return { uid: caller.uid, gid, mode: newMode };
}

/** What a setattr asks to change; times are set explicitly or to 'now'. */
export interface AttrChange {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  atime?: 'now' | { sec: number; nsec: number };
  mtime?: 'now' | { sec: number; nsec: number };
}

/**
 * The kernel's setattr_prepare and chown/chmod rules. Returns the change to send, which may differ from
 * the one asked: chmod by a caller outside the file's group drops set-group-id, and chown of a
 * non-directory drops set-user-id (and set-group-id when group-executable), as Linux does.
 * `writableHandle` says the size change comes through a descriptor opened for writing (ftruncate).
 */
export function planSetattr(
  attr: Ownership,
  caller: Caller,
  change: AttrChange,
  what: string,
  writableHandle = false,
): AttrChange {
  const root = isRoot(caller);
  const owner = root || caller.uid === attr.uid;
  const planned = { ...change };
  if (change.size !== undefined && !writableHandle) checkAccess(attr, caller, MAY_WRITE, what);
  if (change.uid !== undefined && change.uid !== attr.uid && !root) {
    throw new KlError('EPERM', `only root may give ${what} to another user`);
  }
  if (change.gid !== undefined && change.gid !== attr.gid && !root) {
    if (!owner || !inGroup(caller, change.gid)) {
      throw new KlError('EPERM', `uid ${caller.uid} may not change ${what}'s group to ${change.gid}`);
    }
  }
  if (change.mode !== undefined) {
    if (!owner) throw new KlError('EPERM', `uid ${caller.uid} does not own ${what}`);
    const group = change.gid ?? attr.gid;
    if (!root && !inGroup(caller, group)) planned.mode = change.mode & ~S_ISGID;
  }
  checkTimes(attr, caller, change, owner, what);
  if ((change.uid !== undefined || change.gid !== undefined) && !isDir(attr.mode)) {
    const base = planned.mode ?? attr.mode & 0o7777;
    const killed = base & ~S_ISUID & ~((base & 0o010) !== 0 ? S_ISGID : 0);
    if (killed !== base || planned.mode !== undefined) planned.mode = killed;
  }
  return planned;
}

function checkTimes(attr: Ownership, caller: Caller, change: AttrChange, owner: boolean, what: string): void {
  const times = [change.atime, change.mtime].filter((t) => t !== undefined);
  if (times.length === 0 || owner) return;
  if (times.some((t) => t !== 'now')) {
    throw new KlError('EPERM', `only the owner may set ${what}'s times to chosen values`);
  }
  checkAccess(attr, caller, MAY_WRITE, what);
}

/** The xattr namespaces Linux knows; others are ENOTSUP. */
const XATTR_NAMESPACES = ['user.', 'trusted.', 'security.', 'system.', 'lustre.'];

/**
 * The kernel's xattr_permission: trusted.* is root's alone (and hidden from others' listings); writing
 * security.* is root's; user.* is allowed on regular files and directories only (not in a sticky
 * directory one does not own) and then needs read or write permission on the inode.
 */
export function checkXattr(
  attr: Ownership,
  caller: Caller,
  name: string,
  write: boolean,
  what: string,
): void {
  checkXattrNamespace(name);
  if (isRoot(caller)) return;
  if (name.startsWith('trusted.') || (write && name.startsWith('security.'))) {
    throw new KlError('EPERM', `only root may ${write ? 'set' : 'read'} ${name} of ${what}`);
  }
  if (!name.startsWith('user.')) return;
  if (!isReg(attr.mode) && !isDir(attr.mode)) {
    throw new KlError(write ? 'EPERM' : 'ENODATA', `user xattrs exist on files and directories only`);
  }
  if (write && isDir(attr.mode) && (attr.mode & S_ISVTX) !== 0 && caller.uid !== attr.uid) {
    throw new KlError('EPERM', `uid ${caller.uid} may not set user xattrs on sticky ${what}`);
  }
  checkAccess(attr, caller, write ? MAY_WRITE : MAY_READ, what);
}

/** The part of the xattr checks that does not depend on the inode (all root needs). */
export function checkXattrNamespace(name: string): void {
  if (!XATTR_NAMESPACES.some((ns) => name.startsWith(ns))) {
    throw new KlError('ENOTSUP', `xattr ${name} is in no namespace this filesystem supports`);
  }
}

/** listxattr shows trusted.* names to root only. */
export function visibleXattrNames(names: readonly string[], caller: Caller): string[] {
  return isRoot(caller) ? [...names] : names.filter((n) => !n.startsWith('trusted.'));
}

function maskText(mask: number): string {
  const words: string[] = [];
  if (mask & MAY_READ) words.push('read');
  if (mask & MAY_WRITE) words.push('write');
  if (mask & MAY_EXEC) words.push('search/execute');
  return words.join('+');
}
