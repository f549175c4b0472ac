import { isKlError, KlError } from '@kubelustre/protocol/errors.ts';
import type { Attr, DirEntry, Node } from './attr.ts';
import type { FileHandle } from './file-handle.ts';
import type { InodeApi } from './inode-api.ts';
import {
  isDir,
  isLnk,
  O_CREAT,
  O_DIRECTORY,
  O_EXCL,
  O_NOFOLLOW,
  O_RDONLY,
  O_TRUNC,
  O_WRONLY,
} from './mode.ts';
import type { PathResolver } from './path-resolver.ts';
import type { AttrChange, Caller } from './permissions.ts';

/** Entries one readdir RPC asks for. */
const READDIR_PAGE_ENTRIES = 1024;
/** The most bytes readFile reads per call (each call is split into parallel RPCs). */
const READ_FILE_CHUNK_BYTES = 16 * 1024 * 1024;

/**
 * The path-level API (for the CLI, the CSI driver, tests): paths inside the filesystem resolved by
 * PathResolver, then the inode-level call. Calls name the caller whose permissions apply, else the
 * client's default caller.
 */
export class PathApi {
  readonly #inodes: InodeApi;
  readonly #resolver: PathResolver;
  readonly #defaultCaller: Caller;

  constructor(inodes: InodeApi, resolver: PathResolver, defaultCaller: Caller) {
    this.#inodes = inodes;
    this.#resolver = resolver;
    this.#defaultCaller = defaultCaller;
  }

  /** The inode and layout `path` names (symlinks at the end followed unless `follow` is false). */
  getnode(path: string, follow = true, caller = this.#defaultCaller): Promise<Node> {
    return this.#resolver.resolve(path, caller, follow);
  }

  async stat(path: string, caller = this.#defaultCaller): Promise<Attr> {
    return (await this.getnode(path, true, caller)).attr;
  }

  async lstat(path: string, caller = this.#defaultCaller): Promise<Attr> {
    return (await this.getnode(path, false, caller)).attr;
  }

  async mkdir(path: string, mode = 0o777, caller = this.#defaultCaller): Promise<Attr> {
    const { parent, name } = await this.#resolver.resolveParent(path, caller, 'EEXIST');
    return (await this.#inodes.mkdir(parent.attr, name, mode, caller)).attr;
  }

  /** Every entry of a directory (without "." and ".."), read page by page. */
  async readdirEntries(path: string, plus = false, caller = this.#defaultCaller): Promise<DirEntry[]> {
    const dir = await this.getnode(path, true, caller);
    const entries: DirEntry[] = [];
    let cookie = 0;
    for (;;) {
      const page = await this.#inodes.readdir(dir.attr, cookie, READDIR_PAGE_ENTRIES, plus, caller);
      entries.push(...page.entries);
      const last = page.entries.at(-1);
      if (page.eof || !last) return entries;
      cookie = last.cookie;
    }
  }

  async readdir(path: string, caller = this.#defaultCaller): Promise<string[]> {
    return (await this.readdirEntries(path, false, caller)).map((e) => e.name);
  }

  /** rename(2); `flags` takes RENAME_NOREPLACE or RENAME_EXCHANGE. */
  async rename(from: string, to: string, flags = 0, caller = this.#defaultCaller): Promise<void> {
    const src = await this.#resolver.resolveParent(from, caller, 'EINVAL');
    const dst = await this.#resolver.resolveParent(to, caller, 'EINVAL');
    await this.#inodes.rename(src.parent.attr, src.name, dst.parent.attr, dst.name, flags, caller);
  }

  async unlink(path: string, caller = this.#defaultCaller): Promise<void> {
    const { parent, name, trailingSlash } = await this.#resolver.resolveParent(path, caller, 'EISDIR');
    if (trailingSlash) {
      const node = await this.#inodes.lookup(parent.attr, name, caller);
      throw new KlError(isDir(node.attr.mode) ? 'EISDIR' : 'ENOTDIR', `cannot unlink ${path}`);
    }
    await this.#inodes.unlink(parent.attr, name, caller);
  }

  async rmdir(path: string, caller = this.#defaultCaller): Promise<void> {
    const { parent, name } = await this.#resolver.resolveParent(path, caller, 'EINVAL');
    await this.#inodes.rmdir(parent.attr, name, caller);
  }

  /** A hard link at `newPath` to what `existing` names (a symlink there is linked, not followed). */
  async link(existing: string, newPath: string, caller = this.#defaultCaller): Promise<Attr> {
    const src = await this.getnode(existing, false, caller);
    const { parent, name } = await this.#resolver.resolveParent(newPath, caller, 'EEXIST');
    return (await this.#inodes.link(src.attr.fid, parent.attr, name, caller)).attr;
  }

  async symlink(target: string, path: string, caller = this.#defaultCaller): Promise<Attr> {
    const { parent, name } = await this.#resolver.resolveParent(path, caller, 'EEXIST');
    return (await this.#inodes.symlink(parent.attr, name, target, caller)).attr;
  }

  async readlink(path: string, caller = this.#defaultCaller): Promise<string> {
    const node = await this.getnode(path, false, caller);
    if (!isLnk(node.attr.mode)) throw new KlError('EINVAL', `${path} is not a symlink`);
    return this.#inodes.readlink(node.attr.fid);
  }

  async truncate(path: string, size: number, caller = this.#defaultCaller): Promise<void> {
    await this.setattr(path, { size }, caller);
  }

  async chmod(path: string, mode: number, caller = this.#defaultCaller): Promise<Attr> {
    return this.setattr(path, { mode }, caller);
  }

  /** chown(2); leave `uid` or `gid` undefined to keep it. */
  async chown(path: string, uid: number | undefined, gid: number | undefined, caller = this.#defaultCaller) {
    return this.setattr(
      path,
      { ...(uid !== undefined && { uid }), ...(gid !== undefined && { gid }) },
      caller,
    );
  }

  async setattr(path: string, change: AttrChange, caller = this.#defaultCaller): Promise<Attr> {
    const node = await this.getnode(path, true, caller);
    return this.#inodes.setattr(node.attr.fid, change, caller);
  }

  async getxattr(path: string, name: string, caller = this.#defaultCaller): Promise<Buffer> {
    return this.#inodes.getxattr((await this.getnode(path, true, caller)).attr.fid, name, caller);
  }

  async setxattr(path: string, name: string, value: Buffer, flags = 0, caller = this.#defaultCaller) {
    await this.#inodes.setxattr(
      (await this.getnode(path, true, caller)).attr.fid,
      name,
      value,
      flags,
      caller,
    );
  }

  async listxattr(path: string, caller = this.#defaultCaller): Promise<string[]> {
    return this.#inodes.listxattr((await this.getnode(path, true, caller)).attr.fid, caller);
  }

  async removexattr(path: string, name: string, caller = this.#defaultCaller): Promise<void> {
    await this.#inodes.removexattr((await this.getnode(path, true, caller)).attr.fid, name, caller);
  }

  /**
   * open(2) of a regular file. With O_CREAT a missing file is created with `mode` (O_EXCL: EEXIST if it
   * exists); a file this call created is opened without a permission check and without truncating, as
   * the kernel does. O_NOFOLLOW refuses a symlink at the end (ELOOP); O_DIRECTORY a non-directory.
   */
  async open(
    path: string,
    flags = O_RDONLY,
    mode = 0o666,
    caller = this.#defaultCaller,
  ): Promise<FileHandle> {
    if ((flags & O_CREAT) === 0) {
      const node = await this.getnode(path, (flags & O_NOFOLLOW) === 0, caller);
      if ((flags & O_DIRECTORY) !== 0 && !isDir(node.attr.mode))
        throw new KlError('ENOTDIR', `${path} is not a directory`);
      return this.#inodes.open(node, flags, caller);
    }
    const { parent, name, trailingSlash } = await this.#resolver.resolveParent(path, caller, 'EISDIR');
    if (trailingSlash) throw new KlError('EISDIR', `${path}: O_CREAT makes files, not directories`);
    const existing = await this.#inodes.lookup(parent.attr, name, caller).catch((e: unknown) => {
      if (isKlError(e, 'ENOENT')) return undefined;
      throw e;
    });
    if (!existing) {
      const exclusive = (flags & O_EXCL) !== 0;
      return (await this.#inodes.createOpen(parent.attr, name, mode, flags, { exclusive }, caller)).handle;
    }
    if ((flags & O_EXCL) !== 0) throw new KlError('EEXIST', `${path} exists`);
    if (!isLnk(existing.attr.mode)) return this.#inodes.open(existing, flags, caller);
    if ((flags & O_NOFOLLOW) !== 0) throw new KlError('ELOOP', `${path} is a symlink`);
    return this.#inodes.open(await this.getnode(path, true, caller), flags, caller);
  }

  /** The whole file, read in large sequential chunks. */
  async readFile(path: string, caller = this.#defaultCaller): Promise<Buffer> {
    await using handle = await this.open(path, O_RDONLY, 0, caller);
    const chunks: Buffer[] = [];
    for (;;) {
      const chunk = await handle.read(READ_FILE_CHUNK_BYTES);
      if (chunk.length === 0) return Buffer.concat(chunks);
      chunks.push(chunk);
    }
  }

  /** Creates or replaces the file's contents; resolves once the data reached the OSTs (close). */
  async writeFile(path: string, data: Buffer, mode = 0o666, caller = this.#defaultCaller): Promise<void> {
    const handle = await this.open(path, O_WRONLY | O_CREAT | O_TRUNC, mode, caller);
    try {
      await handle.write(data, 0);
    } catch (e) {
      await handle.close().catch(() => undefined);
      throw e;
    }
    await handle.close();
  }
}
