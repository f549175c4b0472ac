import { KlError } from '@kubelustre/protocol/errors.ts';
import { XATTR_CREATE, XATTR_REPLACE } from '@kubelustre/protocol/messages/mdt.ts';
import { now, putInode, requireInode } from './inodes.ts';
import { blobOf, type Store } from './store.ts';

/** XATTR_NAME_MAX and XATTR_SIZE_MAX, as Linux limits them. */
export const XATTR_NAME_BYTES_MAX = 255;
export const XATTR_VALUE_BYTES_MAX = 64 * 1024;
/** The virtual xattr holding a file's layout (a directory's default layout), as Lustre exposes it. */
export const LUSTRE_LOV = 'lustre.lov';
const STORED_NAMESPACES = ['user.', 'trusted.', 'security.'];

/**
 * Names we store. Others are refused with ENOTSUP as a filesystem without them would: system.* (POSIX
 * ACLs are not supported) and unknown namespaces. Which namespaces a caller may touch (trusted.* needs
 * CAP_SYS_ADMIN) is the client's check.
 */
function checkName(name: string, fid: string): void {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes === 0 || bytes > XATTR_NAME_BYTES_MAX) {
    throw new KlError(
      'ERANGE',
      `xattr name of ${bytes} bytes on ${fid}: names are 1 to ${XATTR_NAME_BYTES_MAX} bytes`,
    );
  }
  if (!STORED_NAMESPACES.some((ns) => name.startsWith(ns) && name.length > ns.length)) {
    throw new KlError(
      'ENOTSUP',
      `xattr "${name}" on ${fid}: only user.*, trusted.* and security.* are stored`,
    );
  }
}

export function getxattr(store: Store, fid: string, name: string): Buffer {
  const inode = requireInode(store, fid);
  if (name === LUSTRE_LOV) {
    const layout = inode.layout ?? inode.dirLayout;
    if (layout === undefined) throw new KlError('ENODATA', `${fid} has no layout`);
    return Buffer.from(JSON.stringify(layout), 'utf8');
  }
  checkName(name, fid);
  const row = store.get('SELECT value FROM xattrs WHERE fid = ? AND name = ?', fid, name);
  if (row === undefined) throw new KlError('ENODATA', `${fid} has no xattr "${name}"`);
  return Buffer.from(blobOf(row.value));
}

/** setxattr(2) with XATTR_CREATE (EEXIST if present) and XATTR_REPLACE (ENODATA if absent). */
export function setxattr(store: Store, fid: string, name: string, value: Buffer, flags: number): void {
  const inode = requireInode(store, fid);
  if (name === LUSTRE_LOV) {
    throw new KlError('ENOTSUP', `${fid}: ${LUSTRE_LOV} is read-only here; set layouts with mdt.set_layout`);
  }
  checkName(name, fid);
  if (value.length > XATTR_VALUE_BYTES_MAX) {
    throw new KlError(
      'ERANGE',
      `xattr "${name}" value of ${value.length} bytes exceeds ${XATTR_VALUE_BYTES_MAX}`,
    );
  }
  const exists = store.get('SELECT 1 AS one FROM xattrs WHERE fid = ? AND name = ?', fid, name) !== undefined;
  if (exists && (flags & XATTR_CREATE) !== 0)
    throw new KlError('EEXIST', `${fid} already has xattr "${name}"`);
  if (!exists && (flags & XATTR_REPLACE) !== 0)
    throw new KlError('ENODATA', `${fid} has no xattr "${name}" to replace`);
  store.run('INSERT OR REPLACE INTO xattrs (fid, name, value) VALUES (?, ?, ?)', fid, name, value);
  inode.ctime = now();
  putInode(store, inode);
}

/** Stored xattr names in name order (the virtual lustre.lov is not listed, so copy tools do not try to set it). */
export function listxattr(store: Store, fid: string): string[] {
  requireInode(store, fid);
  return store.all('SELECT name FROM xattrs WHERE fid = ? ORDER BY name', fid).map((r) => r.name as string);
}

export function removexattr(store: Store, fid: string, name: string): void {
  const inode = requireInode(store, fid);
  if (name === LUSTRE_LOV) throw new KlError('ENOTSUP', `${fid}: ${LUSTRE_LOV} cannot be removed`);
  checkName(name, fid);
  if (store.run('DELETE FROM xattrs WHERE fid = ? AND name = ?', fid, name) === 0) {
    throw new KlError('ENODATA', `${fid} has no xattr "${name}"`);
  }
  inode.ctime = now();
  putInode(store, inode);
}
