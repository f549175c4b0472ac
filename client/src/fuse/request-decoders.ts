import { KlError } from '@kubelustre/protocol/errors.ts';
import { FUSE_FSYNC_FDATASYNC, FUSE_GETATTR_FH, readI64, readU64, WRITE_IN_BYTES } from './kernel-abi.ts';

/**
 * Decoders of the request bodies (the bytes after fuse_in_header) of include/uapi/linux/fuse.h, with
 * the NUL-terminated names that follow some structs. A body too short for its struct is EIO: the
 * kernel never sends one, so it means we misread the stream.
 */

/** NAME_MAX: entry names longer than this are ENAMETOOLONG (the kernel itself passes up to 1024). */
export const NAME_BYTES_MAX = 255;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function need(body: Buffer, bytes: number, what: string): void {
  if (body.length < bytes)
    throw new KlError('EIO', `${what} body of ${body.length} bytes, expected ${bytes}`);
}

/** The NUL-terminated string at `at` and the offset after its NUL. */
export function cString(body: Buffer, at: number): { bytes: Buffer; next: number } {
  const end = body.indexOf(0, at);
  if (end < 0) throw new KlError('EIO', 'name in a FUSE request is not NUL-terminated');
  return { bytes: body.subarray(at, end), next: end + 1 };
}

/**
 * Names are UTF-8 text end to end (the library and MDT keep strings); bytes that are not UTF-8 could not
 * be stored faithfully, so they are refused with EINVAL rather than silently changed.
 */
export function decodeText(bytes: Buffer, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new KlError('EINVAL', `${what} is not valid UTF-8`);
  }
}

/** An entry name at `at`, length-checked (ENAMETOOLONG past NAME_MAX). */
export function entryName(body: Buffer, at: number): { name: string; next: number } {
  const { bytes, next } = cString(body, at);
  if (bytes.length > NAME_BYTES_MAX) {
    throw new KlError('ENAMETOOLONG', `name of ${bytes.length} bytes exceeds ${NAME_BYTES_MAX}`);
  }
  return { name: decodeText(bytes, 'entry name'), next };
}

export function decodeForgetIn(body: Buffer): number {
  need(body, 8, 'FORGET');
  return readU64(body, 0);
}

export interface ForgetOne {
  nodeid: number;
  nlookup: number;
}

export function decodeBatchForgetIn(body: Buffer): ForgetOne[] {
  need(body, 8, 'BATCH_FORGET');
  const count = body.readUInt32LE(0);
  need(body, 8 + count * 16, 'BATCH_FORGET');
  return Array.from({ length: count }, (_, i) => ({
    nodeid: readU64(body, 8 + i * 16),
    nlookup: readU64(body, 16 + i * 16),
  }));
}

/** fuse_getattr_in: the file handle when the kernel asks for an open file (fstat). */
export function decodeGetattrIn(body: Buffer): { fh: number | undefined } {
  need(body, 16, 'GETATTR');
  const flags = body.readUInt32LE(0);
  return { fh: (flags & FUSE_GETATTR_FH) !== 0 ? readU64(body, 8) : undefined };
}

export interface SetattrIn {
  /** FATTR_* bits saying which fields are set. */
  valid: number;
  fh: number;
  size: number;
  atime: { sec: number; nsec: number };
  mtime: { sec: number; nsec: number };
  mode: number;
  uid: number;
  gid: number;
}

export function decodeSetattrIn(body: Buffer): SetattrIn {
  need(body, 88, 'SETATTR');
  return {
    valid: body.readUInt32LE(0),
    fh: readU64(body, 8),
    size: readU64(body, 16),
    atime: { sec: readI64(body, 32), nsec: body.readUInt32LE(56) },
    mtime: { sec: readI64(body, 40), nsec: body.readUInt32LE(60) },
    mode: body.readUInt32LE(68),
    uid: body.readUInt32LE(76),
    gid: body.readUInt32LE(80),
  };
}

/** fuse_mknod_in and its name. `mode` has the type bits and the umask already applied. */
export function decodeMknodIn(body: Buffer): { mode: number; rdev: number; name: string } {
  need(body, 16, 'MKNOD');
  return { mode: body.readUInt32LE(0), rdev: body.readUInt32LE(4), name: entryName(body, 16).name };
}

export function decodeMkdirIn(body: Buffer): { mode: number; name: string } {
  need(body, 8, 'MKDIR');
  return { mode: body.readUInt32LE(0), name: entryName(body, 8).name };
}

/** SYMLINK's body: the new entry's name, then the link target. */
export function decodeSymlinkIn(body: Buffer): { name: string; target: string } {
  const { name, next } = entryName(body, 0);
  return { name, target: decodeText(cString(body, next).bytes, 'symlink target') };
}

export interface RenameIn {
  newParent: number;
  flags: number;
  name: string;
  newName: string;
}

/** fuse_rename_in (RENAME) or fuse_rename2_in (RENAME2, with flags), then both names. */
export function decodeRenameIn(body: Buffer, withFlags: boolean): RenameIn {
  const structBytes = withFlags ? 16 : 8;
  need(body, structBytes, 'RENAME');
  const old = entryName(body, structBytes);
  return {
    newParent: readU64(body, 0),
    flags: withFlags ? body.readUInt32LE(8) : 0,
    name: old.name,
    newName: entryName(body, old.next).name,
  };
}

export function decodeLinkIn(body: Buffer): { oldNodeid: number; name: string } {
  need(body, 8, 'LINK');
  return { oldNodeid: readU64(body, 0), name: entryName(body, 8).name };
}

/** fuse_open_in: open(2) flags (O_CREAT, O_EXCL and O_NOCTTY already consumed by the kernel). */
export function decodeOpenIn(body: Buffer): { flags: number } {
  need(body, 8, 'OPEN');
  return { flags: body.readUInt32LE(0) };
}

export function decodeCreateIn(body: Buffer): { flags: number; mode: number; name: string } {
  need(body, 16, 'CREATE');
  return { flags: body.readUInt32LE(0), mode: body.readUInt32LE(4), name: entryName(body, 16).name };
}

/** fuse_release_in (RELEASE, RELEASEDIR) and fuse_flush_in both start with the file handle. */
export function decodeFhIn(body: Buffer): { fh: number } {
  need(body, 8, 'handle');
  return { fh: readU64(body, 0) };
}

export interface ReadIn {
  fh: number;
  offset: number;
  size: number;
}

/** fuse_read_in (READ, READDIR, READDIRPLUS). */
export function decodeReadIn(body: Buffer): ReadIn {
  need(body, 24, 'READ');
  return { fh: readU64(body, 0), offset: readU64(body, 8), size: body.readUInt32LE(16) };
}

/** fuse_write_in and the data after it (a view into `body`, not a copy). */
export function decodeWriteIn(body: Buffer): { fh: number; offset: number; data: Buffer } {
  need(body, WRITE_IN_BYTES, 'WRITE');
  const size = body.readUInt32LE(16);
  need(body, WRITE_IN_BYTES + size, 'WRITE');
  return {
    fh: readU64(body, 0),
    offset: readU64(body, 8),
    data: body.subarray(WRITE_IN_BYTES, WRITE_IN_BYTES + size),
  };
}

/** fuse_fsync_in (FSYNC, FSYNCDIR). */
export function decodeFsyncIn(body: Buffer): { fh: number; datasync: boolean } {
  need(body, 16, 'FSYNC');
  return { fh: readU64(body, 0), datasync: (body.readUInt32LE(8) & FUSE_FSYNC_FDATASYNC) !== 0 };
}

/**
 * fuse_setxattr_in, 16 bytes once SETXATTR_EXT is negotiated (8 before), then the name, then the value
 * (copied: it outlives the request buffer).
 */
export function decodeSetxattrIn(body: Buffer, ext: boolean): { flags: number; name: string; value: Buffer } {
  const structBytes = ext ? 16 : 8;
  need(body, structBytes, 'SETXATTR');
  const size = body.readUInt32LE(0);
  const { bytes, next } = cString(body, structBytes);
  need(body, next + size, 'SETXATTR');
  return {
    flags: body.readUInt32LE(4),
    name: decodeText(bytes, 'xattr name'),
    value: Buffer.from(body.subarray(next, next + size)),
  };
}

/** fuse_getxattr_in (GETXATTR with a name after it, LISTXATTR without): the caller's buffer size. */
export function decodeGetxattrIn(body: Buffer, withName: boolean): { size: number; name: string } {
  need(body, 8, 'GETXATTR');
  const name = withName ? decodeText(cString(body, 8).bytes, 'xattr name') : '';
  return { size: body.readUInt32LE(0), name };
}

export function decodeInterruptIn(body: Buffer): { unique: number } {
  need(body, 8, 'INTERRUPT');
  return { unique: readU64(body, 0) };
}

export interface CopyFileRangeIn {
  fhIn: number;
  offIn: number;
  nodeidOut: number;
  fhOut: number;
  offOut: number;
  len: number;
}

export function decodeCopyFileRangeIn(body: Buffer): CopyFileRangeIn {
  need(body, 56, 'COPY_FILE_RANGE');
  return {
    fhIn: readU64(body, 0),
    offIn: readU64(body, 8),
    nodeidOut: readU64(body, 16),
    fhOut: readU64(body, 24),
    offOut: readU64(body, 32),
    len: readU64(body, 40),
  };
}

/** lseek(2)'s SEEK_DATA and SEEK_HOLE, the only whences the kernel sends (it does SET/CUR/END itself). */
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

/** fuse_lseek_in. */
export function decodeLseekIn(body: Buffer): { fh: number; offset: number; whence: number } {
  need(body, 24, 'LSEEK');
  return { fh: readU64(body, 0), offset: readU64(body, 8), whence: body.readUInt32LE(16) };
}

export interface FallocateIn {
  fh: number;
  offset: number;
  length: number;
  /** fallocate(2) mode bits (FALLOC_FL_KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE: the kernel passes no others). */
  mode: number;
}

/** fuse_fallocate_in. */
export function decodeFallocateIn(body: Buffer): FallocateIn {
  need(body, 32, 'FALLOCATE');
  return {
    fh: readU64(body, 0),
    offset: readU64(body, 8),
    length: readU64(body, 16),
    mode: body.readUInt32LE(24),
  };
}
