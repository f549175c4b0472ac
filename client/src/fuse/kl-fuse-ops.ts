import { isKlError, KlError } from '@kubelustre/protocol/errors.ts';
import type { Logger } from '@kubelustre/protocol/log.ts';
import type { DirEntry, Node } from '../attr.ts';
import type { FileHandle } from '../file-handle.ts';
import type { KlClient } from '../fs-client.ts';
import { O_ACCMODE, O_APPEND, O_EXCL, O_RDONLY, O_TRUNC, S_IFDIR } from '../mode.ts';
import type { PccCache } from '../pcc/pcc-cache.ts';
import { PccHandles } from '../pcc/pcc-handles.ts';
import { LUSTRE_PCC_XATTR } from '../pcc/pcc-state.ts';
import { retryWhileRestoring } from '../pcc/restore-wait.ts';
import { WriteAnnouncer } from '../pcc/write-announcer.ts';
import { ROOT_CALLER } from '../permissions.ts';

/** fallocate(2) mode bits (linux/falloc.h). */
const FALLOC_FL_KEEP_SIZE = 0x01;
const FALLOC_FL_PUNCH_HOLE = 0x02;
const FALLOC_FL_ZERO_RANGE = 0x10;

import { attrChangeOf, creatorOf, fuseAttrOf, openStampOf, statfsOutOf } from './attr-convert.ts';
import type { CreateOut, DirentSink, FuseChannel, FuseOps, OpenResult, RequestContext } from './fuse-ops.ts';
import { GENERATION, InodeTable } from './inode-table.ts';
import {
  type AttrOut,
  DIRENT_BYTES,
  direntType,
  ENTRY_OUT_BYTES,
  type EntryOut,
  FATTR_MTIME,
  FATTR_MTIME_NOW,
  FATTR_SIZE,
  FOPEN_DIRECT_IO,
  FOPEN_KEEP_CACHE,
  FUSE_ROOT_ID,
  type OpenOut,
  type StatfsOut,
} from './kernel-abi.ts';
import { LUSTRE_LOV_XATTR, layoutTemplateOf } from './layout-xattr.ts';
import {
  type CopyFileRangeIn,
  type FallocateIn,
  SEEK_DATA,
  SEEK_HOLE,
  type SetattrIn,
} from './request-decoders.ts';

/** Readdir offsets 1 and 2 are "." and ".."; the library's cookie c is offset c + 2. */
const DOT_ENTRIES = 2;
/** The library answers at most this many entries per readdir RPC. */
const READDIR_PAGE_MAX = 4096;
/** One COPY_FILE_RANGE copies at most this much (callers loop on short copies), in chunks of the second. */
const COPY_BYTES_MAX = 64 * 1024 * 1024;
const COPY_CHUNK_BYTES = 4 * 1024 * 1024;

export interface KlFuseOptions {
  client: KlClient;
  rootFid: string;
  log: Logger;
  /**
   * How long the kernel trusts a name → inode entry and an inode's attributes without asking again:
   * the window in which another client's change may go unseen (opens always ask: close-to-open).
   */
  entryTimeoutMs?: number;
  attrTimeoutMs?: number;
  /** The mount's PCC (`-o pcc=DIR`), if any. */
  pcc?: PccCache;
  /**
   * Offer read-only opens of files with a current read-only copy for FUSE passthrough (`-o
   * pcc_passthrough`, the default): the kernel then reads the copy itself until the file is closed.
   */
  pccPassthrough?: boolean;
}

/**
 * FuseOps over a KlClient: each FUSE request becomes one library call on FIDs, and its KlError's errno
 * goes back. The kernel checks permissions (default_permissions), so calls run as root except those
 * creating inodes, which need the caller's ids for ownership. Caching is close-to-open: every open reads
 * fresh attributes, and the kernel's cached pages are kept only while mtime and size are unchanged since
 * this mount's previous open of the file. PCC (docs/pcc.md, PccHandles): read-only opens of attached
 * files read their local copy while the MDT confirms it current; files cached read-write are read and
 * written in their cache file; every other change to a file is first announced to the MDT
 * (WriteAnnouncer), which revokes every mount's copy of it.
 */
export class KlFuseOps implements FuseOps {
  readonly #client: KlClient;
  readonly #log: Logger;
  readonly #inodes: InodeTable;
  readonly #files = new Map<number, FileHandle>();
  readonly #entryTimeoutMs: number;
  readonly #attrTimeoutMs: number;
  /** PCC per open handle (pcc-handles.ts): asked first for I/O, the OSTs when it answers undefined. */
  readonly #pcc: PccHandles;
  readonly #writes: WriteAnnouncer;
  #nextFh = 1;
  #channel: FuseChannel | undefined;

  constructor(opts: KlFuseOptions) {
    this.#client = opts.client;
    this.#log = opts.log;
    this.#inodes = new InodeTable(opts.rootFid);
    this.#entryTimeoutMs = opts.entryTimeoutMs ?? 1000;
    this.#attrTimeoutMs = opts.attrTimeoutMs ?? 1000;
    const pcc = new PccHandles({ pcc: opts.pcc, log: opts.log, passthrough: opts.pccPassthrough ?? true });
    this.#pcc = pcc;
    this.#writes = new WriteAnnouncer({
      mdt: () => opts.client.mdt(),
      log: opts.log,
      beforeAnnounce: (fid: string) => pcc.beforeAnnounce(fid),
      writeUntracked: (fid: string) => opts.client.writeUntracked(fid),
    });
  }

  /** Node ids the kernel holds (root included), for tests and metrics. */
  get nodeCount(): number {
    return this.#inodes.size;
  }

  init(channel: FuseChannel): void {
    this.#channel = channel;
  }

  async lookup(_ctx: RequestContext, parent: number, name: string): Promise<EntryOut> {
    const node = await this.#client.inodes.lookup(this.#inodes.fid(parent), name, ROOT_CALLER);
    this.#pcc.rememberName(node.attr.fid, name);
    return this.#entry(node);
  }

  forget(nodeid: number, nlookup: number): void {
    this.#inodes.forget(nodeid, nlookup);
  }

  async getattr(_ctx: RequestContext, nodeid: number): Promise<AttrOut> {
    return this.#attrOut(nodeid, await this.#client.inodes.getattr(this.#inodes.fid(nodeid)));
  }

  /** A size change is a write: announced first (PCC copies of the file are revoked). */
  async setattr(_ctx: RequestContext, nodeid: number, change: SetattrIn): Promise<AttrOut> {
    const fid = this.#inodes.fid(nodeid);
    if ((change.valid & FATTR_MTIME) !== 0) {
      const { sec, nsec } = change.mtime;
      this.#pcc.touched(fid, (change.valid & FATTR_MTIME_NOW) !== 0 ? Date.now() : sec * 1000 + nsec / 1e6);
    }
    if ((change.valid & FATTR_SIZE) !== 0 && (await this.#pcc.truncate(fid, change.size))) {
      // Cached read-write: the cache file took the size; the rest goes to the MDT.
      const rest = attrChangeOf({ ...change, valid: change.valid & ~FATTR_SIZE });
      const attr =
        Object.keys(rest).length === 0
          ? await this.#client.inodes.getattr(fid)
          : await this.#client.inodes.setattr(fid, rest, ROOT_CALLER);
      return this.#attrOut(nodeid, attr);
    }
    const run = () => this.#client.inodes.setattr(fid, attrChangeOf(change), ROOT_CALLER);
    if ((change.valid & FATTR_SIZE) === 0) return this.#attrOut(nodeid, await run());
    const attr = this.#files.has(change.fh)
      ? await this.#writes.beforeChange(fid, change.fh).then(run)
      : await this.#writes.around(fid, run);
    return this.#attrOut(nodeid, attr);
  }

  readlink(_ctx: RequestContext, nodeid: number): Promise<string> {
    return this.#client.inodes.readlink(this.#inodes.fid(nodeid));
  }

  async symlink(ctx: RequestContext, parent: number, name: string, target: string): Promise<EntryOut> {
    const caller = await creatorOf(ctx);
    return this.#entry(await this.#client.inodes.symlink(this.#inodes.fid(parent), name, target, caller));
  }

  async mknod(
    ctx: RequestContext,
    parent: number,
    name: string,
    mode: number,
    rdev: number,
  ): Promise<EntryOut> {
    const caller = await creatorOf(ctx);
    const opts = { exclusive: true, rdev };
    return this.#entry(await this.#client.inodes.create(this.#inodes.fid(parent), name, mode, opts, caller));
  }

  async mkdir(ctx: RequestContext, parent: number, name: string, mode: number): Promise<EntryOut> {
    const caller = await creatorOf(ctx);
    return this.#entry(await this.#client.inodes.mkdir(this.#inodes.fid(parent), name, mode, caller));
  }

  unlink(_ctx: RequestContext, parent: number, name: string): Promise<void> {
    return this.#client.inodes.unlink(this.#inodes.fid(parent), name, ROOT_CALLER);
  }

  rmdir(_ctx: RequestContext, parent: number, name: string): Promise<void> {
    return this.#client.inodes.rmdir(this.#inodes.fid(parent), name, ROOT_CALLER);
  }

  rename(
    _ctx: RequestContext,
    parent: number,
    name: string,
    newParent: number,
    newName: string,
    flags: number,
  ): Promise<void> {
    const [from, to] = [this.#inodes.fid(parent), this.#inodes.fid(newParent)];
    return this.#client.inodes.rename(from, name, to, newName, flags, ROOT_CALLER);
  }

  async link(_ctx: RequestContext, nodeid: number, newParent: number, newName: string): Promise<EntryOut> {
    const fid = this.#inodes.fid(nodeid);
    return this.#entry(
      await this.#client.inodes.link(fid, this.#inodes.fid(newParent), newName, ROOT_CALLER),
    );
  }

  /**
   * Close-to-open: fresh attributes from the MDT at every open (see #cacheFlags). An open of a file
   * another client caches read-write waits (bounded) while that client writes it back.
   */
  async open(_ctx: RequestContext, nodeid: number, flags: number): Promise<OpenResult> {
    const fid = this.#inodes.fid(nodeid);
    const fh = this.#nextFh++;
    // O_TRUNC: of the cache file when cached read-write here; otherwise of the OSTs' data, after the
    // open (the MDT's answer to it says whether the truncate must be announced) and the announcement.
    const truncate =
      (flags & O_TRUNC) !== 0 && (flags & O_ACCMODE) !== O_RDONLY && !(await this.#pcc.truncate(fid, 0));
    try {
      let node = await this.#client.inodes.getnode(fid);
      let waited = false;
      const handle = await retryWhileRestoring(() =>
        this.#client.inodes.open(node, flags & ~O_TRUNC, ROOT_CALLER).catch((e: unknown) => {
          waited ||= isKlError(e, 'EAGAIN');
          throw e;
        }),
      );
      if (truncate) await this.#truncateNew(fid, fh, handle);
      this.#files.set(fh, handle);
      if (waited) node = await this.#client.inodes.getnode(fid); // written back meanwhile
      const openFlags = await this.#cacheFlags(nodeid, this.#pcc.withLocal(node), flags);
      const passthroughFd = await this.#pcc.opened(fh, node.attr, flags);
      return { fh, openFlags, ...(passthroughFd !== undefined && { passthroughFd }) };
    } catch (e) {
      if (!this.#files.has(fh)) await this.#writes.released(fid, fh, false);
      throw e;
    }
  }

  /**
   * open(O_CREAT) in one MDT round trip (mdt.create_open2): creates and opens, or (without O_EXCL)
   * opens a file someone created meanwhile, which O_TRUNC then truncates (announced as any write). A
   * file created empty that an `rwid` rule matches is attached read-write before its handle is made.
   */
  async create(
    ctx: RequestContext,
    parent: number,
    name: string,
    mode: number,
    flags: number,
  ): Promise<CreateOut> {
    const { node, handle } = await this.#createOpen(ctx, parent, name, mode, flags);
    const fh = this.#nextFh++;
    const fid = node.attr.fid;
    this.#pcc.rememberName(fid, name);
    const truncate = (flags & O_TRUNC) !== 0 && (flags & O_ACCMODE) !== O_RDONLY;
    let truncated = false; // in the cache file, when cached read-write here
    try {
      truncated = truncate && (await this.#pcc.truncate(fid, 0));
      if (!truncated && (!truncate || node.attr.size === 0)) await this.#pcc.beforeCreateOpen(node.attr);
    } catch (e) {
      await handle.close().catch(() => undefined);
      throw e;
    }
    // O_TRUNC of a file that is empty is a no-op costing MDT round trips (getattr, setattr).
    if (truncate && !truncated && node.attr.size > 0) await this.#truncateNew(fid, fh, handle);
    this.#files.set(fh, handle);
    this.#pcc.created(fh, fid);
    const entry = this.#entry(node);
    this.#inodes.get(entry.nodeid).openStamp = openStampOf(node.attr);
    return { entry, open: { fh, openFlags: appendFlags(flags) } };
  }

  /**
   * From the read-write cache file while the file is cached read-write; from the read-only copy while
   * it is current (pcc-cache.ts); else, or once it is found stale, the OSTs.
   */
  async read(_ctx: RequestContext, fh: number, offset: number, size: number): Promise<Buffer> {
    const handle = this.#file(fh);
    return (await this.#pcc.read(fh, offset, size)) ?? handle.read(size, offset);
  }

  /** To the read-write cache file while the file is cached so (no MDT round trip); else the OSTs. */
  async write(_ctx: RequestContext, fh: number, offset: number, data: Buffer): Promise<number> {
    const handle = this.#file(fh);
    const written = await this.#pcc.write(fh, data, offset, (handle.flags & O_APPEND) !== 0);
    if (written !== undefined) return written;
    await this.#writes.beforeChange(handle.fid, fh);
    return handle.write(data, offset);
  }

  flush(_ctx: RequestContext, fh: number): Promise<void> {
    return this.#file(fh).flush();
  }

  /** The last close: write-back errors were already reported by flush; later ones can only be logged. */
  async release(_ctx: RequestContext, fh: number): Promise<void> {
    const handle = this.#file(fh);
    this.#files.delete(fh);
    await this.#pcc.released(fh);
    await handle.close().catch((e: unknown) => {
      this.#log.warn({ fid: handle.fid, err: (e as Error).message }, 'Close of a released file failed');
    });
    await this.#writes.released(handle.fid, fh);
  }

  /**
   * A file cached read-write: its cache file is written back to the OSTs (it stays attached), so what
   * was fsynced survives the loss of this node. Otherwise the handle's dirty data goes to the OSTs.
   */
  async fsync(_ctx: RequestContext, fh: number, datasync: boolean): Promise<void> {
    const handle = this.#file(fh);
    if (await this.#pcc.sync(fh)) return;
    return handle.fsync(datasync);
  }

  /** Copies inside the client, so the data does not cross the kernel twice (cp uses this). */
  async copyFileRange(_ctx: RequestContext, r: CopyFileRangeIn): Promise<number> {
    const [src, dst] = [this.#file(r.fhIn), this.#file(r.fhOut)];
    await this.#writes.beforeChange(dst.fid, r.fhOut);
    const total = Math.min(r.len, COPY_BYTES_MAX);
    let copied = 0;
    while (copied < total) {
      const [length, offset] = [Math.min(COPY_CHUNK_BYTES, total - copied), r.offIn + copied];
      const chunk = (await this.#pcc.read(r.fhIn, offset, length)) ?? (await src.read(length, offset));
      if (chunk.length === 0) break;
      await dst.write(chunk, r.offOut + copied);
      copied += chunk.length;
    }
    return copied;
  }

  /** A file cached read-write here is all data up to its cache file's size. */
  async lseek(_ctx: RequestContext, fh: number, offset: number, whence: number): Promise<number> {
    if (whence !== SEEK_DATA && whence !== SEEK_HOLE) throw new KlError('EINVAL', `lseek whence ${whence}`);
    const handle = this.#file(fh);
    const localSize = this.#pcc.localSize(fh);
    if (localSize === undefined) return handle.seek(offset, whence === SEEK_DATA ? 'data' : 'hole');
    if (offset < 0 || offset >= localSize) throw new KlError('ENXIO', `offset ${offset} is past the end`);
    return whence === SEEK_DATA ? offset : localSize;
  }

  /**
   * fallocate(2). FALLOC_FL_ZERO_RANGE, which the library does not take, is a hole punched over the
   * range (reads answer zeros) and, unless KEEP_SIZE, an allocation that extends the size over it.
   */
  async fallocate(_ctx: RequestContext, r: FallocateIn): Promise<void> {
    const handle = this.#file(r.fh);
    await this.#writes.beforeChange(handle.fid, r.fh);
    if ((r.mode & FALLOC_FL_ZERO_RANGE) === 0) return handle.fallocate(r.mode, r.offset, r.length);
    if ((r.mode & ~(FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)) !== 0) {
      throw new KlError('ENOTSUP', `fallocate mode ${r.mode}`);
    }
    await handle.fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, r.offset, r.length);
    if ((r.mode & FALLOC_FL_KEEP_SIZE) === 0) await handle.fallocate(0, r.offset, r.length);
  }

  /** Directories are read by offset with no state per open: nothing to allocate. */
  async opendir(): Promise<OpenOut> {
    return { fh: 0, openFlags: 0 };
  }

  async readdir(_ctx: RequestContext, nodeid: number, offset: number, sink: DirentSink): Promise<void> {
    const dir = this.#inodes.get(nodeid);
    const dot = { ino: dir.ino, type: direntType(S_IFDIR) };
    if (offset === 0 && !sink.add({ ...dot, nextOffset: 1, name: '.' })) return;
    if (offset <= 1 && !sink.add({ ...dot, nextOffset: 2, name: '..' })) return;
    let cookie = Math.max(0, offset - DOT_ENTRIES);
    const entryBytesMin = (sink.plus ? ENTRY_OUT_BYTES : 0) + DIRENT_BYTES + 8;
    for (;;) {
      const countMax = Math.min(READDIR_PAGE_MAX, Math.max(1, Math.floor(sink.bytesFree / entryBytesMin)));
      const page = await this.#client.inodes.readdir(dir.fid, cookie, countMax, sink.plus, ROOT_CALLER);
      for (const e of page.entries) {
        if (!this.#addDirent(sink, e)) return;
        cookie = e.cookie;
      }
      if (page.eof || page.entries.length === 0) return;
    }
  }

  async releasedir(): Promise<void> {}

  fsyncdir(): Promise<void> {
    return this.#client.inodes.syncMetadata();
  }

  async statfs(): Promise<StatfsOut> {
    return statfsOutOf(await this.#client.inodes.statfs());
  }

  /**
   * Setting lustre.lov sets the layout (an empty file's) or the default layout (a directory's), as the
   * caller (the owner rule for directories is not the kernel's to check). An invalid value is EINVAL,
   * logged with the reason since setxattr(2) cannot carry it.
   */
  async setxattr(
    ctx: RequestContext,
    nodeid: number,
    name: string,
    value: Buffer,
    flags: number,
  ): Promise<void> {
    const fid = this.#inodes.fid(nodeid);
    if (name === LUSTRE_PCC_XATTR) {
      return this.#pcc.control(fid, value, () => [...this.#files.values()].map((h) => h.fid));
    }
    if (name !== LUSTRE_LOV_XATTR) return this.#client.inodes.setxattr(fid, name, value, flags, ROOT_CALLER);
    try {
      await this.#client.lustre.setLayoutOf(fid, layoutTemplateOf(value, fid), await creatorOf(ctx));
    } catch (e) {
      if (isKlError(e, 'EINVAL')) this.#log.warn({ fid, reason: e.reason }, `Refused a ${name} value`);
      throw e;
    }
  }

  /**
   * The root's lustre.lov is the filesystem default when it has none of its own, as on Lustre, where
   * the root's layout is the default (`lfs getstripe` of a directory without a default shows it).
   */
  async getxattr(_ctx: RequestContext, nodeid: number, name: string): Promise<Buffer> {
    if (name === LUSTRE_PCC_XATTR)
      return Buffer.from(JSON.stringify(await this.#pcc.state(this.#inodes.fid(nodeid))));
    try {
      return await this.#client.inodes.getxattr(this.#inodes.fid(nodeid), name, ROOT_CALLER);
    } catch (e) {
      if (name !== LUSTRE_LOV_XATTR || nodeid !== FUSE_ROOT_ID || !isKlError(e, 'ENODATA')) throw e;
      return Buffer.from(JSON.stringify(this.#client.config.defaultLayout));
    }
  }

  /** As the caller: trusted.* names are listed to root only. */
  listxattr(ctx: RequestContext, nodeid: number): Promise<string[]> {
    return this.#client.inodes.listxattr(this.#inodes.fid(nodeid), {
      uid: ctx.uid,
      gid: ctx.gid,
      groups: [],
    });
  }

  removexattr(_ctx: RequestContext, nodeid: number, name: string): Promise<void> {
    return this.#client.inodes.removexattr(this.#inodes.fid(nodeid), name, ROOT_CALLER);
  }

  /** The connection is gone: files the kernel never released are closed (flushed) here. */
  async destroy(): Promise<void> {
    const open = [...this.#files.entries()];
    this.#files.clear();
    for (const [fh, handle] of open) {
      await this.#pcc.released(fh);
      await handle.close().catch((e: unknown) => {
        this.#log.warn({ fid: handle.fid, err: (e as Error).message }, 'Close at unmount failed');
      });
      await this.#writes.released(handle.fid, fh);
    }
    await this.#pcc.close(); // read-write files go back to the OSTs
    if (open.length > 0) this.#log.info({ files: open.length }, 'Closed files left open at unmount');
  }

  /**
   * mdt.create_open2 as the caller (ownership, project id and quota as mdt.create). EAGAIN without
   * O_EXCL may be an existing file another client caches read-write: then create (which answers the
   * existing file, or EAGAIN again when the pools ran dry) and an open waiting for its write-back.
   */
  async #createOpen(
    ctx: RequestContext,
    parent: number,
    name: string,
    mode: number,
    flags: number,
  ): Promise<{ node: Node; handle: FileHandle }> {
    const caller = await creatorOf(ctx);
    const opts = { exclusive: (flags & O_EXCL) !== 0 };
    const dir = this.#inodes.fid(parent);
    const inodes = this.#client.inodes;
    try {
      return await inodes.createOpen(dir, name, mode, flags & ~O_TRUNC, opts, caller);
    } catch (e) {
      if (opts.exclusive || !isKlError(e, 'EAGAIN')) throw e;
    }
    const created = await inodes.create(dir, name, mode, opts, caller);
    const handle = await retryWhileRestoring(() =>
      inodes.open(created, flags & ~O_TRUNC, caller, { created: true }),
    );
    try {
      return { node: await inodes.getnode(created.attr.fid), handle }; // written back meanwhile
    } catch (e) {
      await handle.close().catch(() => undefined);
      throw e;
    }
  }

  /**
   * O_TRUNC of the OSTs' data through a handle just opened: announced first (unless the MDT counts
   * our open as the writer of an untracked file). On failure the handle is closed.
   */
  async #truncateNew(fid: string, fh: number, handle: FileHandle): Promise<void> {
    try {
      await this.#writes.beforeChange(fid, fh);
      await handle.truncate(0);
    } catch (e) {
      await handle.close().catch(() => undefined);
      await this.#writes.released(fid, fh);
      throw e;
    }
  }

  /**
   * FOPEN_KEEP_CACHE only when mtime and size match this mount's previous open: otherwise the kernel
   * drops the file's pages, and its cached attributes too (a notification before the reply) unless the
   * attributes it last got from us already carry this mtime and size, so reads see the size the MDT
   * just gave. (The kernel changes cached attributes on its own only for writes and truncates through
   * this mount, and then it drops them itself.)
   */
  async #cacheFlags(nodeid: number, node: Node, flags: number): Promise<number> {
    const entry = this.#inodes.get(nodeid);
    const stamp = openStampOf(node.attr);
    const keep = entry.openStamp === stamp;
    entry.openStamp = stamp;
    if (!keep && entry.sentStamp !== stamp) {
      await this.#channel?.invalidateInode(nodeid, -1, 0);
      entry.sentStamp = undefined;
    }
    return (keep ? FOPEN_KEEP_CACHE : 0) | appendFlags(flags);
  }

  #addDirent(sink: DirentSink, e: DirEntry): boolean {
    const dirent = { ino: e.ino, nextOffset: e.cookie + DOT_ENTRIES, type: direntType(e.mode), name: e.name };
    if (!sink.plus || !e.node) return sink.add(dirent);
    const entry = this.#entry(e.node);
    if (sink.add(dirent, entry)) return true;
    const inode = this.#inodes.get(entry.nodeid);
    inode.sentStamp = undefined; // not sent after all: what the kernel holds is unknown
    this.#inodes.forget(entry.nodeid, 1);
    return false;
  }

  /** An entry reply: counts the kernel's lookup of its node id. */
  #entry(original: Node): EntryOut {
    const node = this.#pcc.withLocal(original);
    const inode = this.#inodes.lookup(node.attr.fid, node.attr.ino);
    inode.sentStamp = openStampOf(node.attr);
    const { nodeid } = inode;
    return {
      nodeid,
      generation: GENERATION,
      entryValidMs: this.#entryTimeoutMs,
      attrValidMs: this.#attrTimeoutMs,
      attr: fuseAttrOf(node.attr),
    };
  }

  #attrOut(nodeid: number, original: Node['attr']): AttrOut {
    const attr = this.#pcc.withLocal({ attr: original }).attr;
    const inode = this.#inodes.get(nodeid);
    inode.ino = attr.ino;
    inode.sentStamp = openStampOf(attr);
    return { attrValidMs: this.#attrTimeoutMs, attr: fuseAttrOf(attr) };
  }

  #file(fh: number): FileHandle {
    const handle = this.#files.get(fh);
    if (!handle) throw new KlError('EBADF', `no open file with handle ${fh}`);
    return handle;
  }
}

/**
 * O_APPEND writes go where the library knows the end is (fresh from the MDT at open), which may differ
 * from the kernel's cached size: such opens bypass the page cache so it never holds data at an offset
 * the data did not land at.
 */
function appendFlags(flags: number): number {
  return (flags & O_APPEND) !== 0 ? FOPEN_DIRECT_IO : 0;
}
