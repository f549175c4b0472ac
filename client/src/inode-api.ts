import { isKlError, KlError } from '@kubelustre/protocol/errors.ts';
import type { Layout } from '@kubelustre/protocol/layout/types.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import * as mdtOps from '@kubelustre/protocol/messages/mdt.ts';
import type { Attr, DirEntry, Node } from './attr.ts';
import { FileHandle } from './file-handle.ts';
import type { MdtOpens } from './mdt-opens.ts';
import { canWriteWith, isDir, isLnk, isReg, O_TRUNC, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from './mode.ts';
import type { OpenFileTable } from './open-file.ts';
import { checkName } from './path.ts';
import {
  type AttrChange,
  type Caller,
  checkAccess,
  checkCanAddEntry,
  checkCanRemoveEntry,
  checkCanReparent,
  checkOpen,
  checkSearch,
  checkXattr,
  checkXattrNamespace,
  isRoot,
  MAY_READ,
  newInodeOwnership,
  planSetattr,
  stickyApplies,
  visibleXattrNames,
} from './permissions.ts';
import { aggregateStatfs, type StatfsValue } from './statfs.ts';
import { queryTargetSpaces } from './target-space.ts';
import type { TargetConnections } from './targets.ts';

/**
 * A directory by FID, or its attributes when the caller holds them already (a path walk does): then the
 * permission checks need no getattr.
 */
export type DirRef = string | Attr;

export interface CreateOptions {
  /** O_EXCL: EEXIST when the name exists. Default true; false returns an existing regular file. */
  exclusive?: boolean;
  /** lfs setstripe on create; else the directory's default, else the filesystem's. */
  layout?: Layout;
  /** Device number of a character or block special file. */
  rdev?: number;
}

/** What a create request carries beside the name, mode and owner. */
interface EntryExtras {
  exclusive: boolean;
  target?: string;
  layout?: Layout;
  rdev?: number;
}

export interface ReaddirPage {
  entries: DirEntry[];
  eof: boolean;
}

export interface InodeApiDeps {
  targets: TargetConnections;
  files: OpenFileTable;
  /** This client's opens on the MDT. */
  opens: MdtOpens;
  /** Whose permissions apply when a call names no caller. */
  defaultCaller: Caller;
  log: Logger;
}

/**
 * The inode-level API, what a FUSE filesystem needs: every call names inodes by FID, checks permissions
 * as the kernel would for the caller (the MDT trusts the client), and fails with KlError errno codes.
 * Root skips the checks and the getattr they cost: a FUSE mount with default_permissions, where the
 * kernel has checked already, can pass ROOT_CALLER.
 * One MDT (index 0) holds the whole namespace: with DNE a directory's FID would pick the MDT.
 */
export class InodeApi {
  readonly #deps: InodeApiDeps;
  /** The MDT answered ENOSYS to mdt.create_open2 (older than it): mdt.create_open. */
  #createOpen2Unsupported = false;

  constructor(deps: InodeApiDeps) {
    this.#deps = deps;
  }

  /** Attributes and layout, with this client's unflushed size on top for a file it has open. */
  async getnode(fid: string): Promise<Node> {
    const { reply } = await this.#mdt().call(mdtOps.getattr, { fid });
    return this.#withLocalSize(reply);
  }

  async getattr(fid: string): Promise<Attr> {
    return (await this.getnode(fid)).attr;
  }

  /** access(2): whether the caller may read/write/execute (MAY_* bits) the inode; EACCES if not. */
  async access(fid: string, mask: number, caller = this.#caller()): Promise<void> {
    checkAccess(await this.getattr(fid), caller, mask, fid);
  }

  async lookup(parent: DirRef, name: string, caller = this.#caller()): Promise<Node> {
    checkName(name);
    const dir = await this.#attrForCheck(parent, caller);
    if (dir) checkSearch(dir, caller, `directory ${fidOf(parent)}`);
    const { reply } = await this.#mdt().call(mdtOps.lookup, { parent: fidOf(parent), name });
    return this.#withLocalSize(reply);
  }

  /** Creates a regular file (or a special file, by the type bits of `mode`). */
  async create(
    parent: DirRef,
    name: string,
    mode: number,
    opts: CreateOptions = {},
    caller = this.#caller(),
  ): Promise<Node> {
    const type = (mode & S_IFMT) === 0 ? S_IFREG : mode & S_IFMT;
    if (type === S_IFDIR || type === S_IFLNK)
      throw new KlError('EINVAL', `create makes files; use mkdir or symlink`);
    return this.#makeEntry(parent, name, type | (mode & 0o7777), caller, {
      exclusive: opts.exclusive ?? true,
      ...(opts.layout && { layout: opts.layout }),
      ...(opts.rdev !== undefined && { rdev: opts.rdev }),
    });
  }

  async mkdir(parent: DirRef, name: string, mode: number, caller = this.#caller()): Promise<Node> {
    return this.#makeEntry(parent, name, S_IFDIR | (mode & 0o7777), caller, { exclusive: true });
  }

  async symlink(parent: DirRef, name: string, target: string, caller = this.#caller()): Promise<Node> {
    if (target.length === 0) throw new KlError('ENOENT', 'a symlink target is not empty');
    if (Buffer.byteLength(target) > 4095)
      throw new KlError('ENAMETOOLONG', 'symlink target exceeds 4095 bytes');
    return this.#makeEntry(parent, name, S_IFLNK | 0o777, caller, { exclusive: true, target });
  }

  /** A hard link to `fid` named `name` in `parent`; directories cannot be linked (EPERM). */
  async link(fid: string, parent: DirRef, name: string, caller = this.#caller()): Promise<Node> {
    checkName(name);
    const dir = await this.#attrForCheck(parent, caller);
    if (dir) checkCanAddEntry(dir, caller, `directory ${fidOf(parent)}`);
    const target = await this.getattr(fid);
    if (isDir(target.mode))
      throw new KlError('EPERM', `${fid} is a directory: directories have no hard links`);
    const { reply } = await this.#mdt().call(mdtOps.link, { fid, parent: fidOf(parent), name });
    return reply;
  }

  async unlink(parent: DirRef, name: string, caller = this.#caller()): Promise<void> {
    await this.#removeEntry(parent, name, false, caller);
  }

  async rmdir(parent: DirRef, name: string, caller = this.#caller()): Promise<void> {
    await this.#removeEntry(parent, name, true, caller);
  }

  /** rename(2), with renameat2's RENAME_NOREPLACE and RENAME_EXCHANGE flags. */
  async rename(
    srcParent: DirRef,
    srcName: string,
    dstParent: DirRef,
    dstName: string,
    flags = 0,
    caller = this.#caller(),
  ): Promise<void> {
    checkName(srcName);
    checkName(dstName);
    if (!isRoot(caller)) await this.#checkRename(srcParent, srcName, dstParent, dstName, flags, caller);
    const req = { srcParent: fidOf(srcParent), srcName, dstParent: fidOf(dstParent), dstName, flags };
    await this.#mdt().call(mdtOps.rename, req);
  }

  async readlink(fid: string): Promise<string> {
    return (await this.#mdt().call(mdtOps.readlink, { fid })).reply.target;
  }

  /**
   * One page of a directory, in name order after `cookie` (0 = from the start), without "." and "..".
   * Reading a directory needs read permission on it (checked at opendir by the kernel).
   */
  async readdir(
    dir: DirRef,
    cookie: number,
    countMax: number,
    plus: boolean,
    caller = this.#caller(),
  ): Promise<ReaddirPage> {
    const attr = await this.#attrForCheck(dir, caller);
    if (attr) {
      if (!isDir(attr.mode)) throw new KlError('ENOTDIR', `${fidOf(dir)} is not a directory`);
      checkAccess(attr, caller, MAY_READ, `directory ${fidOf(dir)}`);
    }
    return (await this.#mdt().call(mdtOps.readdir, { fid: fidOf(dir), cookie, countMax, plus })).reply;
  }

  /**
   * chmod, chown, truncate and utimes in one, with the kernel's rules (see planSetattr). A size change
   * goes through the file's data path (objects punched before the MDT records the size); `writable`
   * says it comes from a handle open for writing (ftruncate), which needs no permission check.
   */
  async setattr(fid: string, change: AttrChange, caller = this.#caller(), writable = false): Promise<Attr> {
    const node = await this.getnode(fid);
    const planned = planSetattr(node.attr, caller, change, fid, writable);
    if (planned.size !== undefined) await this.#truncate(node, planned.size);
    const { size: _size, ...rest } = planned;
    if (Object.keys(rest).length === 0) return planned.size === undefined ? node.attr : this.getattr(fid);
    const { reply } = await this.#mdt().call(mdtOps.setattr, { fid, ...rest });
    return this.#withLocalSize(reply).attr;
  }

  async getxattr(fid: string, name: string, caller = this.#caller()): Promise<Buffer> {
    await this.#checkXattr(fid, name, false, caller);
    return (await this.#mdt().call(mdtOps.getxattr, { fid, name })).data;
  }

  /** setxattr(2); `flags` takes XATTR_CREATE or XATTR_REPLACE. */
  async setxattr(
    fid: string,
    name: string,
    value: Buffer,
    flags = 0,
    caller = this.#caller(),
  ): Promise<void> {
    await this.#checkXattr(fid, name, true, caller);
    await this.#mdt().call(mdtOps.setxattr, { fid, name, flags }, value);
  }

  async listxattr(fid: string, caller = this.#caller()): Promise<string[]> {
    const { names } = (await this.#mdt().call(mdtOps.listxattr, { fid })).reply;
    return visibleXattrNames(names, caller);
  }

  async removexattr(fid: string, name: string, caller = this.#caller()): Promise<void> {
    await this.#checkXattr(fid, name, true, caller);
    await this.#mdt().call(mdtOps.removexattr, { fid, name });
  }

  /** statfs(2) of the whole filesystem: blocks from the OSTs, files from the MDT (as Lustre's client). */
  async statfs(): Promise<StatfsValue> {
    const { mdts, osts } = await queryTargetSpaces(this.#deps.targets);
    if (mdts.every((m) => m.space === undefined)) {
      throw new KlError('EIO', `no MDT answered statfs: ${mdts.map((m) => m.error).join('; ')}`);
    }
    return aggregateStatfs(mdts, osts);
  }

  /** syncfs: makes every metadata change durable on the MDT. */
  async syncMetadata(): Promise<void> {
    await this.#mdt().call(mdtOps.sync, {});
  }

  /**
   * Opens a regular file for I/O (directories are read with readdir: EISDIR; symlinks are not followed
   * at this level: ELOOP). Permission by flags, unless `created` says this open created the file (the
   * kernel lets a creator write a file whose mode denies it); O_TRUNC truncates when opened for writing.
   * This client's first open of a file is recorded on the MDT (mdt.open2, with whether it is for write),
   * which keeps the file's data while it is open even if every name of it is unlinked; its fresh
   * attributes spare a getattr.
   */
  async open(
    file: string | Node,
    flags: number,
    caller = this.#caller(),
    opts: { created?: boolean } = {},
  ): Promise<FileHandle> {
    const given = typeof file === 'string' ? undefined : file;
    if (given) checkOpenable(given.attr, flags, caller, opts.created);
    const fid = given?.attr.fid ?? (file as string);
    const { files, opens } = this.#deps;
    const fresh = await opens.acquire(fid, canWriteWith(flags));
    let handle: FileHandle;
    try {
      const node = fresh ?? given ?? (await this.getnode(fid));
      if (!given) checkOpenable(node.attr, flags, caller, opts.created);
      handle = new FileHandle(files.acquire(node.attr, node.layout), files, flags, () => opens.release(fid));
    } catch (e) {
      opens.release(fid);
      throw e;
    }
    if ((flags & O_TRUNC) !== 0 && canWriteWith(flags)) {
      await handle.truncate(0).catch(async (e) => {
        await handle.close().catch(() => undefined);
        throw e;
      });
    }
    return handle;
  }

  /**
   * open(2) with O_CREAT of a name the caller found missing (FUSE's CREATE), in one MDT round trip
   * (mdt.create_open): creates a regular file as `create` does and opens it with `flags`, without a
   * permission check on the new file (the kernel lets its creator write it) and without truncating.
   * With `exclusive: false` a file someone else created meanwhile is opened instead. Answers the node
   * (for the entry reply) and the handle. The MDT records whether the open is for write
   * (mdt.create_open2; from an MDT older than it, mdt.create_open).
   */
  async createOpen(
    parent: DirRef,
    name: string,
    mode: number,
    flags: number,
    opts: CreateOptions = {},
    caller = this.#caller(),
  ): Promise<{ node: Node; handle: FileHandle }> {
    if ((mode & S_IFMT) !== 0 && (mode & S_IFMT) !== S_IFREG)
      throw new KlError('EINVAL', `createOpen makes regular files; use create for special files`);
    const req = await this.#entryRequest(parent, name, S_IFREG | (mode & 0o7777), caller, {
      exclusive: opts.exclusive ?? true,
      ...(opts.layout && { layout: opts.layout }),
    });
    const write = canWriteWith(flags);
    let reply: { node: Node; leaseMs: number; pccTracked?: boolean } | undefined;
    if (!this.#createOpen2Unsupported) {
      try {
        reply = (await this.#mdt().call(mdtOps.createOpen2, { ...req, write })).reply;
      } catch (e) {
        if (!isKlError(e, 'ENOSYS')) throw e;
        this.#createOpen2Unsupported = true;
      }
    }
    reply ??= (await this.#mdt().call(mdtOps.createOpen, req)).reply;
    const { node, pccTracked } = reply;
    const { files, opens } = this.#deps;
    opens.adopt(node, reply.leaseMs, pccTracked === undefined ? undefined : { write, pccTracked });
    const file = files.acquire(node.attr, node.layout);
    const handle = new FileHandle(file, files, flags, () => opens.release(node.attr.fid));
    return { node, handle };
  }

  /** Resolves once every mdt.close this client sent so far was answered (closes are not waited for). */
  settleCloses(): Promise<void> {
    return this.#deps.opens.settled();
  }

  async #makeEntry(
    parent: DirRef,
    name: string,
    mode: number,
    caller: Caller,
    extra: EntryExtras,
  ): Promise<Node> {
    const req = await this.#entryRequest(parent, name, mode, caller, extra);
    return (await this.#mdt().call(mdtOps.create, req)).reply;
  }

  /** An mdt.create request, after the checks for adding `name` to `parent`. */
  async #entryRequest(parent: DirRef, name: string, mode: number, caller: Caller, extra: EntryExtras) {
    checkName(name);
    const dir = typeof parent === 'string' ? await this.getattr(parent) : parent;
    checkCanAddEntry(dir, caller, `directory ${dir.fid}`);
    const owner = newInodeOwnership(dir, caller, mode);
    return { parent: dir.fid, name, ...owner, ...extra };
  }

  async #removeEntry(parent: DirRef, name: string, dir: boolean, caller: Caller): Promise<void> {
    checkName(name);
    const parentAttr = await this.#attrForCheck(parent, caller);
    if (parentAttr) {
      const victim = stickyApplies(parentAttr, caller)
        ? (await this.lookup(parentAttr, name, caller)).attr
        : undefined;
      checkCanRemoveEntry(parentAttr, victim, caller, `directory ${parentAttr.fid}`);
    }
    await this.#mdt().call(mdtOps.unlink, { parent: fidOf(parent), name, dir });
  }

  /** The kernel's may_delete/may_create pair for both ends, and write on a directory changing parent. */
  async #checkRename(
    srcParent: DirRef,
    srcName: string,
    dstParent: DirRef,
    dstName: string,
    flags: number,
    caller: Caller,
  ): Promise<void> {
    const [srcDir, dstDir] = await Promise.all([this.#attrOf(srcParent), this.#attrOf(dstParent)]);
    const src = (await this.lookup(srcDir, srcName, caller)).attr;
    const dst = await this.lookup(dstDir, dstName, caller).then(
      (n) => n.attr,
      (e) => {
        if (e instanceof KlError && e.code === 'ENOENT') return undefined;
        throw e;
      },
    );
    checkCanRemoveEntry(srcDir, src, caller, `directory ${srcDir.fid}`);
    if (dst) checkCanRemoveEntry(dstDir, dst, caller, `directory ${dstDir.fid}`);
    else checkCanAddEntry(dstDir, caller, `directory ${dstDir.fid}`);
    if (srcDir.fid !== dstDir.fid) {
      checkCanReparent(src, caller, `directory ${src.fid}`);
      if (dst && (flags & mdtOps.RENAME_EXCHANGE) !== 0)
        checkCanReparent(dst, caller, `directory ${dst.fid}`);
    }
  }

  async #checkXattr(fid: string, name: string, write: boolean, caller: Caller): Promise<void> {
    if (isRoot(caller)) checkXattrNamespace(name);
    else checkXattr(await this.getattr(fid), caller, name, write, fid);
  }

  /** Truncates through the file's open state (this client's, or a short-lived one). */
  async #truncate(node: Node, size: number): Promise<void> {
    if (isDir(node.attr.mode)) throw new KlError('EISDIR', `${node.attr.fid} is a directory`);
    if (!isReg(node.attr.mode)) throw new KlError('EINVAL', `${node.attr.fid} is not a regular file`);
    const files = this.#deps.files;
    const file = files.acquire(node.attr, node.layout);
    try {
      await file.truncate(size);
    } finally {
      files.release(file);
    }
  }

  /** Attributes for a permission check: none needed for root (who bypasses them) unless already held. */
  async #attrForCheck(ref: DirRef, caller: Caller): Promise<Attr | undefined> {
    if (typeof ref !== 'string') return ref;
    return isRoot(caller) ? undefined : this.getattr(ref);
  }

  async #attrOf(ref: DirRef): Promise<Attr> {
    return typeof ref === 'string' ? this.getattr(ref) : ref;
  }

  #withLocalSize(node: Node): Node {
    const open = this.#deps.files.find(node.attr.fid);
    if (!open) return node;
    open.refresh(node.attr, node.layout);
    return { attr: open.attr, ...(open.io.layout && { layout: open.io.layout }) };
  }

  #mdt() {
    return this.#deps.targets.mdt();
  }

  #caller(): Caller {
    return this.#deps.defaultCaller;
  }
}

/** What open(2) checks before any I/O: the file type, then permission by flags (not for its creator). */
function checkOpenable(attr: Attr, flags: number, caller: Caller, created = false): void {
  if (isDir(attr.mode)) throw new KlError('EISDIR', `${attr.fid} is a directory`);
  if (isLnk(attr.mode)) throw new KlError('ELOOP', `${attr.fid} is a symlink`);
  if (!isReg(attr.mode)) throw new KlError('ENXIO', `${attr.fid} is a special file; it has no data here`);
  if (!created) checkOpen(attr, caller, flags, attr.fid);
}

function fidOf(ref: DirRef): string {
  return typeof ref === 'string' ? ref : ref.fid;
}
