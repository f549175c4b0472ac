/**
 * The Linux FUSE kernel protocol (include/uapi/linux/fuse.h), the parts kubelustre speaks: opcodes,
 * flags, and byte-exact encoders/decoders of the structs. Every struct is little-endian with the C
 * layout of x86-64 and arm64 (naturally aligned, padded to 8 bytes). Pure functions over Buffers: the
 * device and session layers own I/O.
 *
 * u64 fields are read as JS numbers: node ids, file handles and request ids are ours or the kernel's
 * counters (far below 2^53); file offsets above 2^53 lose precision and are refused by the library.
 */

export const FUSE_KERNEL_VERSION = 7;
/**
 * The minor version we speak. 7.40 has every struct and flag used here (INIT_EXT/flags2, SETXATTR_EXT,
 * HANDLE_KILLPRIV_V2, and 7.40's passthrough: init_out.max_stack_depth, open_out.backing_id and the
 * backing-file ioctls); later minors add statx, io_uring and resend, none used (the kernel gates none
 * of them on our minor: it asks and takes ENOSYS). The kernel talks the smaller of its minor and ours.
 */
export const FUSE_KERNEL_MINOR_VERSION = 40;
export const FUSE_ROOT_ID = 1;
/** The kernel refuses a read buffer smaller than this or than max_write plus the write headers. */
export const FUSE_MIN_READ_BUFFER = 8192;

export const Opcode = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  GETLK: 31,
  SETLK: 32,
  SETLKW: 33,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  BMAP: 37,
  DESTROY: 38,
  IOCTL: 39,
  POLL: 40,
  NOTIFY_REPLY: 41,
  BATCH_FORGET: 42,
  FALLOCATE: 43,
  READDIRPLUS: 44,
  RENAME2: 45,
  LSEEK: 46,
  COPY_FILE_RANGE: 47,
} as const;

/** Opcode numbers to names, for logs. */
export const opcodeName = (opcode: number): string =>
  Object.entries(Opcode).find(([, n]) => n === opcode)?.[0] ?? `OP_${opcode}`;

/** fuse_init_in/out.flags (bits 0..31). */
export const InitFlag = {
  ASYNC_READ: 1 << 0,
  POSIX_LOCKS: 1 << 1,
  ATOMIC_O_TRUNC: 1 << 3,
  EXPORT_SUPPORT: 1 << 4,
  BIG_WRITES: 1 << 5,
  DONT_MASK: 1 << 6,
  SPLICE_WRITE: 1 << 7,
  SPLICE_MOVE: 1 << 8,
  SPLICE_READ: 1 << 9,
  FLOCK_LOCKS: 1 << 10,
  AUTO_INVAL_DATA: 1 << 12,
  DO_READDIRPLUS: 1 << 13,
  READDIRPLUS_AUTO: 1 << 14,
  ASYNC_DIO: 1 << 15,
  WRITEBACK_CACHE: 1 << 16,
  PARALLEL_DIROPS: 1 << 18,
  HANDLE_KILLPRIV: 1 << 19,
  POSIX_ACL: 1 << 20,
  ABORT_ERROR: 1 << 21,
  MAX_PAGES: 1 << 22,
  CACHE_SYMLINKS: 1 << 23,
  EXPLICIT_INVAL_DATA: 1 << 25,
  HANDLE_KILLPRIV_V2: 1 << 28,
  SETXATTR_EXT: 1 << 29,
  INIT_EXT: 1 << 30,
} as const;

/** fuse_init_in/out.flags2: flag bits 32..63, as bits 0..31 of the second word. */
export const InitFlag2 = {
  /** FUSE_PASSTHROUGH (1 << 37): opens may name a backing file that the kernel reads and writes itself. */
  PASSTHROUGH: 1 << 5,
} as const;

/** fuse_setattr_in.valid bits. */
export const FATTR_MODE = 1 << 0;
export const FATTR_UID = 1 << 1;
export const FATTR_GID = 1 << 2;
export const FATTR_SIZE = 1 << 3;
export const FATTR_ATIME = 1 << 4;
export const FATTR_MTIME = 1 << 5;
export const FATTR_ATIME_NOW = 1 << 7;
export const FATTR_MTIME_NOW = 1 << 8;

/** fuse_open_out.open_flags. */
export const FOPEN_DIRECT_IO = 1 << 0;
export const FOPEN_KEEP_CACHE = 1 << 1;
export const FOPEN_NOFLUSH = 1 << 5;
export const FOPEN_PARALLEL_DIRECT_WRITES = 1 << 6;
/** I/O (and mmap) of the open go to the backing file named by fuse_open_out.backing_id. */
export const FOPEN_PASSTHROUGH = 1 << 7;
/**
 * The only flags the kernel accepts beside FOPEN_PASSTHROUGH (FOPEN_PASSTHROUGH_MASK of fs/fuse/iomode.c);
 * anything else, FOPEN_KEEP_CACHE included, fails the open(2) with EIO. With FOPEN_DIRECT_IO, reads and
 * writes still come to us and only mmap uses the backing file.
 */
export const FOPEN_PASSTHROUGH_ALLOWED =
  FOPEN_PASSTHROUGH | FOPEN_DIRECT_IO | FOPEN_PARALLEL_DIRECT_WRITES | FOPEN_NOFLUSH;

export const FUSE_GETATTR_FH = 1 << 0;
export const FUSE_FSYNC_FDATASYNC = 1 << 0;
/** fuse_notify_code: the out header's `error` field carries it, with unique 0. */
export const FUSE_NOTIFY_INVAL_INODE = 2;
/** FUSE_DEV_IOC_CLONE = _IOR(229, 0, uint32_t): attaches a new /dev/fuse fd to a mounted connection. */
export const FUSE_DEV_IOC_CLONE = (2 << 30) | (4 << 16) | (229 << 8) | 0;
/**
 * FUSE_DEV_IOC_BACKING_OPEN = _IOW(229, 1, struct fuse_backing_map): registers an open file as a backing
 * file of the connection; answers its backing id (> 0). Needs CAP_SYS_ADMIN and negotiated passthrough.
 */
export const FUSE_DEV_IOC_BACKING_OPEN = (1 << 30) | (16 << 16) | (229 << 8) | 1;
/** FUSE_DEV_IOC_BACKING_CLOSE = _IOW(229, 2, uint32_t): drops our reference to a backing id. */
export const FUSE_DEV_IOC_BACKING_CLOSE = (1 << 30) | (4 << 16) | (229 << 8) | 2;
export const BACKING_MAP_BYTES = 16;

export const IN_HEADER_BYTES = 40;
export const OUT_HEADER_BYTES = 16;
export const ATTR_BYTES = 88;
export const ENTRY_OUT_BYTES = 40 + ATTR_BYTES;
export const ATTR_OUT_BYTES = 16 + ATTR_BYTES;
export const OPEN_OUT_BYTES = 16;
export const WRITE_OUT_BYTES = 8;
export const STATFS_OUT_BYTES = 80;
export const GETXATTR_OUT_BYTES = 8;
export const INIT_OUT_BYTES = 64;
export const WRITE_IN_BYTES = 40;
export const DIRENT_BYTES = 24;
export const NOTIFY_INVAL_INODE_BYTES = 24;

const TWO_32 = 0x1_0000_0000;

export function readU64(b: Buffer, at: number): number {
  return b.readUInt32LE(at) + b.readUInt32LE(at + 4) * TWO_32;
}

/** Times travel as u64 holding a signed value (before 1970 is negative). */
export function readI64(b: Buffer, at: number): number {
  return b.readUInt32LE(at) + b.readInt32LE(at + 4) * TWO_32;
}

function writeU64(b: Buffer, at: number, v: number): void {
  b.writeUInt32LE(v >>> 0, at);
  b.writeUInt32LE(Math.floor(v / TWO_32) >>> 0, at + 4);
}

function writeI64(b: Buffer, at: number, v: number): void {
  b.writeBigInt64LE(BigInt(v), at);
}

// ---- headers ----

export interface InHeader {
  len: number;
  opcode: number;
  unique: number;
  nodeid: number;
  uid: number;
  gid: number;
  pid: number;
  /** Length of request extensions in 8-byte units (none unless we negotiate security contexts). */
  totalExtlen: number;
}

export function decodeInHeader(b: Buffer): InHeader {
  return {
    len: b.readUInt32LE(0),
    opcode: b.readUInt32LE(4),
    unique: readU64(b, 8),
    nodeid: readU64(b, 16),
    uid: b.readUInt32LE(24),
    gid: b.readUInt32LE(28),
    pid: b.readUInt32LE(32),
    totalExtlen: b.readUInt16LE(36),
  };
}

/** `error` is 0 or a negative errno; for notifications, unique is 0 and `error` the notify code. */
export function encodeOutHeader(len: number, error: number, unique: number): Buffer {
  const b = Buffer.allocUnsafe(OUT_HEADER_BYTES);
  b.writeUInt32LE(len, 0);
  b.writeInt32LE(error, 4);
  writeU64(b, 8, unique);
  return b;
}

// ---- attributes and entries ----

export interface FuseTime {
  sec: number;
  nsec: number;
}

export interface FuseAttr {
  ino: number;
  size: number;
  blocks: number;
  atime: FuseTime;
  mtime: FuseTime;
  ctime: FuseTime;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  /** new_encode_dev format, which is glibc's dev_t for majors < 4096 and minors < 2^20. */
  rdev: number;
  blksize: number;
}

export function encodeAttr(b: Buffer, at: number, a: FuseAttr): void {
  writeU64(b, at, a.ino);
  writeU64(b, at + 8, a.size);
  writeU64(b, at + 16, a.blocks);
  writeI64(b, at + 24, a.atime.sec);
  writeI64(b, at + 32, a.mtime.sec);
  writeI64(b, at + 40, a.ctime.sec);
  b.writeUInt32LE(a.atime.nsec, at + 48);
  b.writeUInt32LE(a.mtime.nsec, at + 52);
  b.writeUInt32LE(a.ctime.nsec, at + 56);
  b.writeUInt32LE(a.mode, at + 60);
  b.writeUInt32LE(a.nlink, at + 64);
  b.writeUInt32LE(a.uid, at + 68);
  b.writeUInt32LE(a.gid, at + 72);
  b.writeUInt32LE(a.rdev, at + 76);
  b.writeUInt32LE(a.blksize, at + 80);
  b.writeUInt32LE(0, at + 84);
}

export interface EntryOut {
  /** 0 in a lookup reply caches a negative entry; in readdirplus it says "no entry given". */
  nodeid: number;
  generation: number;
  entryValidMs: number;
  attrValidMs: number;
  attr: FuseAttr;
}

function writeValidity(b: Buffer, secAt: number, nsecAt: number, ms: number): void {
  writeU64(b, secAt, Math.floor(ms / 1000));
  b.writeUInt32LE((ms % 1000) * 1_000_000, nsecAt);
}

export function encodeEntryOut(b: Buffer, at: number, e: EntryOut): void {
  writeU64(b, at, e.nodeid);
  writeU64(b, at + 8, e.generation);
  writeValidity(b, at + 16, at + 32, e.entryValidMs);
  writeValidity(b, at + 24, at + 36, e.attrValidMs);
  encodeAttr(b, at + 40, e.attr);
}

export interface AttrOut {
  attrValidMs: number;
  attr: FuseAttr;
}

export function encodeAttrOut(a: AttrOut): Buffer {
  const b = Buffer.alloc(ATTR_OUT_BYTES);
  writeValidity(b, 0, 8, a.attrValidMs);
  encodeAttr(b, 16, a.attr);
  return b;
}

export interface OpenOut {
  fh: number;
  openFlags: number;
  /** With FOPEN_PASSTHROUGH: the backing id from FUSE_DEV_IOC_BACKING_OPEN (7.40; padding before). */
  backingId?: number;
}

export function encodeOpenOut(b: Buffer, at: number, o: OpenOut): void {
  writeU64(b, at, o.fh);
  b.writeUInt32LE(o.openFlags >>> 0, at + 8);
  b.writeInt32LE(o.backingId ?? 0, at + 12);
}

/** struct fuse_backing_map { int32 fd; uint32 flags (0); uint64 padding (0) }. */
export function encodeBackingMap(fd: number): Buffer {
  const b = Buffer.alloc(BACKING_MAP_BYTES);
  b.writeInt32LE(fd, 0);
  return b;
}

/** fuse_lseek_out: the offset SEEK_DATA/SEEK_HOLE found. */
export function encodeLseekOut(offset: number): Buffer {
  const b = Buffer.alloc(8);
  writeU64(b, 0, offset);
  return b;
}

/** fuse_write_out; also the reply of COPY_FILE_RANGE. */
export function encodeWriteOut(size: number): Buffer {
  const b = Buffer.alloc(WRITE_OUT_BYTES);
  b.writeUInt32LE(size, 0);
  return b;
}

export interface StatfsOut {
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  bsize: number;
  namelen: number;
  frsize: number;
}

export function encodeStatfsOut(s: StatfsOut): Buffer {
  const b = Buffer.alloc(STATFS_OUT_BYTES);
  writeU64(b, 0, s.blocks);
  writeU64(b, 8, s.bfree);
  writeU64(b, 16, s.bavail);
  writeU64(b, 24, s.files);
  writeU64(b, 32, s.ffree);
  b.writeUInt32LE(s.bsize, 40);
  b.writeUInt32LE(s.namelen, 44);
  b.writeUInt32LE(s.frsize, 48);
  return b;
}

/** The reply to a getxattr/listxattr asking for the size only (size 0). */
export function encodeGetxattrOut(size: number): Buffer {
  const b = Buffer.alloc(GETXATTR_OUT_BYTES);
  b.writeUInt32LE(size, 0);
  return b;
}

/** FUSE_NOTIFY_INVAL_INODE: offset < 0 drops cached attributes only; else also pages in [off, off+len). */
export function encodeNotifyInvalInode(nodeid: number, offset: number, length: number): Buffer {
  const b = Buffer.alloc(NOTIFY_INVAL_INODE_BYTES);
  writeU64(b, 0, nodeid);
  writeI64(b, 8, offset);
  writeI64(b, 16, length);
  return b;
}

// ---- INIT ----

export interface InitIn {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: number;
  /** Flag bits 32..63, sent when `flags` has INIT_EXT. */
  flags2: number;
}

export function decodeInitIn(body: Buffer): InitIn {
  const flags = body.readUInt32LE(12);
  const hasExt = (flags & InitFlag.INIT_EXT) !== 0 && body.length >= 20;
  return {
    major: body.readUInt32LE(0),
    minor: body.readUInt32LE(4),
    maxReadahead: body.readUInt32LE(8),
    flags,
    flags2: hasExt ? body.readUInt32LE(16) : 0,
  };
}

export interface InitOut {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: number;
  flags2: number;
  maxBackground: number;
  congestionThreshold: number;
  maxWrite: number;
  /** Timestamp granularity in ns (1: full nanoseconds). */
  timeGran: number;
  maxPages: number;
  /**
   * With passthrough (7.40): how deep filesystems may stack under and over us. 1: backing files must be on
   * a plain filesystem (not overlayfs), and overlayfs may still use this mount as a layer. 0 otherwise.
   */
  maxStackDepth?: number;
}

export function encodeInitOut(o: InitOut): Buffer {
  const b = Buffer.alloc(INIT_OUT_BYTES);
  b.writeUInt32LE(o.major, 0);
  b.writeUInt32LE(o.minor, 4);
  b.writeUInt32LE(o.maxReadahead, 8);
  b.writeUInt32LE(o.flags >>> 0, 12);
  b.writeUInt16LE(o.maxBackground, 16);
  b.writeUInt16LE(o.congestionThreshold, 18);
  b.writeUInt32LE(o.maxWrite, 20);
  b.writeUInt32LE(o.timeGran, 24);
  b.writeUInt16LE(o.maxPages, 28);
  b.writeUInt16LE(0, 30);
  b.writeUInt32LE(o.flags2 >>> 0, 32);
  b.writeUInt32LE(o.maxStackDepth ?? 0, 36);
  return b;
}

// ---- directory entries ----

/** d_type of a mode (DT_REG = 8, DT_DIR = 4, ...): the S_IFMT bits shifted down. */
export const direntType = (mode: number): number => (mode >>> 12) & 0o17;

const align8 = (n: number): number => (n + 7) & ~7;

/** Bytes one fuse_dirent with a name of `nameBytes` bytes takes, padded to 8. */
export const direntSize = (nameBytes: number): number => align8(DIRENT_BYTES + nameBytes);
export const direntplusSize = (nameBytes: number): number =>
  align8(ENTRY_OUT_BYTES + DIRENT_BYTES + nameBytes);

export interface Dirent {
  ino: number;
  /** Offset of the next entry: where a readdir resumes after this one. */
  nextOffset: number;
  type: number;
  name: Buffer;
}

/** Writes a fuse_dirent at `at` (zero padding included); answers the bytes used. */
export function encodeDirent(b: Buffer, at: number, d: Dirent): number {
  const size = direntSize(d.name.length);
  writeU64(b, at, d.ino);
  writeU64(b, at + 8, d.nextOffset);
  b.writeUInt32LE(d.name.length, at + 16);
  b.writeUInt32LE(d.type, at + 20);
  d.name.copy(b, at + DIRENT_BYTES);
  b.fill(0, at + DIRENT_BYTES + d.name.length, at + size);
  return size;
}

/** Writes a fuse_direntplus (entry_out, then the dirent); answers the bytes used. */
export function encodeDirentplus(b: Buffer, at: number, d: Dirent, entry: EntryOut | undefined): number {
  if (entry) encodeEntryOut(b, at, entry);
  else b.fill(0, at, at + ENTRY_OUT_BYTES);
  return ENTRY_OUT_BYTES + encodeDirent(b, at + ENTRY_OUT_BYTES, d);
}
