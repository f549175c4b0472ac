import type { AttrOut, Dirent, EntryOut, OpenOut, StatfsOut } from './kernel-abi.ts';
import type { CopyFileRangeIn, FallocateIn, SetattrIn } from './request-decoders.ts';

/** Who sent a request, from fuse_in_header. */
export interface RequestContext {
  unique: number;
  uid: number;
  gid: number;
  /** The calling thread's process id (0 for requests the kernel makes on its own, e.g. readahead). */
  pid: number;
}

/** What the session offers the filesystem once INIT is done. */
export interface FuseChannel {
  /** Drops the kernel's cached attributes (offset < 0) or also cached pages in [offset, offset+length). */
  invalidateInode(nodeid: number, offset: number, length: number): Promise<void>;
}

/**
 * Where readdir puts entries. `add` answers false once the kernel's buffer is full: the entry was not
 * sent (and for readdirplus its lookup must not be counted); the kernel resumes at its offset later.
 */
export interface DirentSink {
  readonly plus: boolean;
  /** Bytes still free, to size the page asked from the filesystem. */
  readonly bytesFree: number;
  add(dirent: Omit<Dirent, 'name'> & { name: string }, entry?: EntryOut): boolean;
}

/**
 * What `open`/`create` answer: the handle and FOPEN_* flags, and optionally `passthroughFd`, an fd open
 * O_RDONLY on a local regular file holding the file's exact content (a PCC copy). The ops layer owns the
 * fd until `release` of the handle (closing it then is fine: the kernel keeps its own reference).
 *
 * When the kernel negotiated FUSE_PASSTHROUGH, the session registers the fd as a backing file and the
 * kernel then reads (and mmaps) that file itself: no READ of the handle reaches the ops layer. Otherwise
 * (no passthrough, the registration failed, the open is not read-only, or the inode is open without
 * passthrough elsewhere) the fd is ignored and READs come as usual, so the ops layer always keeps
 * serving reads itself. The session decides per open; `backingId` is the session's to set.
 */
export type OpenResult = Omit<OpenOut, 'backingId'> & { passthroughFd?: number };

export interface CreateOut {
  entry: EntryOut;
  open: OpenResult;
}

/**
 * The filesystem behind a FUSE session, one method per kernel request, with FUSE-level types in and
 * out. A method fails by throwing a KlError (its errno goes to the kernel); anything else is EIO. Every
 * method that answers an EntryOut has counted one lookup of its node id (FUSE's nlookup contract);
 * `forget` takes them back. The session answers every request exactly once and ENOSYS for operations
 * not listed here (locks, ioctl, bmap, poll: the kernel then falls back to its own behaviour).
 */
export interface FuseOps {
  /** Called once INIT is negotiated, before any other request. */
  init(channel: FuseChannel): void;
  lookup(ctx: RequestContext, parent: number, name: string): Promise<EntryOut>;
  forget(nodeid: number, nlookup: number): void;
  getattr(ctx: RequestContext, nodeid: number, fh: number | undefined): Promise<AttrOut>;
  setattr(ctx: RequestContext, nodeid: number, change: SetattrIn): Promise<AttrOut>;
  readlink(ctx: RequestContext, nodeid: number): Promise<string>;
  symlink(ctx: RequestContext, parent: number, name: string, target: string): Promise<EntryOut>;
  mknod(ctx: RequestContext, parent: number, name: string, mode: number, rdev: number): Promise<EntryOut>;
  mkdir(ctx: RequestContext, parent: number, name: string, mode: number): Promise<EntryOut>;
  unlink(ctx: RequestContext, parent: number, name: string): Promise<void>;
  rmdir(ctx: RequestContext, parent: number, name: string): Promise<void>;
  rename(
    ctx: RequestContext,
    parent: number,
    name: string,
    newParent: number,
    newName: string,
    flags: number,
  ): Promise<void>;
  link(ctx: RequestContext, nodeid: number, newParent: number, newName: string): Promise<EntryOut>;
  open(ctx: RequestContext, nodeid: number, flags: number): Promise<OpenResult>;
  create(ctx: RequestContext, parent: number, name: string, mode: number, flags: number): Promise<CreateOut>;
  read(ctx: RequestContext, fh: number, offset: number, size: number): Promise<Buffer>;
  /** `data` is valid until the promise settles; keep a copy to hold it longer. */
  write(ctx: RequestContext, fh: number, offset: number, data: Buffer): Promise<number>;
  /** On every close(2) of a descriptor: where write-back errors reach the application. */
  flush(ctx: RequestContext, fh: number): Promise<void>;
  release(ctx: RequestContext, fh: number): Promise<void>;
  fsync(ctx: RequestContext, fh: number, datasync: boolean): Promise<void>;
  copyFileRange(ctx: RequestContext, req: CopyFileRangeIn): Promise<number>;
  /** SEEK_DATA or SEEK_HOLE from `offset`: the offset found (ENXIO past the end). */
  lseek(ctx: RequestContext, fh: number, offset: number, whence: number): Promise<number>;
  fallocate(ctx: RequestContext, req: FallocateIn): Promise<void>;
  opendir(ctx: RequestContext, nodeid: number): Promise<OpenOut>;
  /** Entries from `offset` (0: the start; else an entry's nextOffset) into `sink`. */
  readdir(ctx: RequestContext, nodeid: number, offset: number, sink: DirentSink): Promise<void>;
  releasedir(ctx: RequestContext, fh: number): Promise<void>;
  fsyncdir(ctx: RequestContext, nodeid: number): Promise<void>;
  statfs(ctx: RequestContext): Promise<StatfsOut>;
  setxattr(ctx: RequestContext, nodeid: number, name: string, value: Buffer, flags: number): Promise<void>;
  getxattr(ctx: RequestContext, nodeid: number, name: string): Promise<Buffer>;
  listxattr(ctx: RequestContext, nodeid: number): Promise<string[]>;
  removexattr(ctx: RequestContext, nodeid: number, name: string): Promise<void>;
  /** The kernel is done with the filesystem (unmount). */
  destroy(): Promise<void>;
}
