import { type ErrnoCode, KlError } from '@kubelustre/protocol/errors.ts';
import type { Node } from './attr.ts';
import type { InodeApi } from './inode-api.ts';
import { isDir, isLnk } from './mode.ts';
import { joinPath, splitPath } from './path.ts';
import { type Caller, checkSearch } from './permissions.ts';

/** Linux's MAXSYMLINKS: symlinks one path walk may follow before ELOOP. */
export const SYMLINKS_FOLLOWED_MAX = 40;

/** The directory a new or removed entry lives in, and the entry's name. */
export interface ParentAndName {
  parent: Node;
  name: string;
  /** The path ended with "/": the entry must be a directory. */
  trailingSlash: boolean;
}

/**
 * Resolves paths inside the filesystem, one component at a time from the root, as the kernel's path
 * walk does: search permission on every directory passed, ".." by going back up the directories walked
 * (so it is the physical parent, at the root the root itself), symlinks followed in the middle of a path
 * (absolute targets restart at the filesystem's root) and at its end when asked, at most 40 of them.
 */
export class PathResolver {
  readonly #inodes: InodeApi;
  readonly #rootFid: string;

  constructor(inodes: InodeApi, rootFid: string) {
    this.#inodes = inodes;
    this.#rootFid = rootFid;
  }

  /** The inode `path` names; with `follow`, a symlink at the end is followed too (stat vs lstat). */
  async resolve(path: string, caller: Caller, follow: boolean): Promise<Node> {
    const { components, trailingSlash } = splitPath(path);
    const node = (await this.#walk(components, caller, follow || trailingSlash, { followed: 0 })).at(-1)!;
    if (trailingSlash && !isDir(node.attr.mode)) throw new KlError('ENOTDIR', `${path} is not a directory`);
    return node;
  }

  /**
   * The parent directory of the entry `path` names (symlinks in it followed) and the entry's name. A path
   * ending in "." or "..", or the root itself, names no entry a caller can add or remove: `dotCode` says
   * what the operation answers then (mkdir: EEXIST, rmdir: EINVAL...).
   */
  async resolveParent(path: string, caller: Caller, dotCode: ErrnoCode): Promise<ParentAndName> {
    const { components, trailingSlash } = splitPath(path);
    const lastText = path
      .split('/')
      .filter((c) => c !== '')
      .at(-1);
    if (components.length === 0 || lastText === '.' || lastText === '..') {
      throw new KlError(dotCode, `${path} names no entry of a directory`);
    }
    const stack = await this.#walk(components.slice(0, -1), caller, true, { followed: 0 });
    const parent = stack.at(-1)!;
    const what = joinPath(components.slice(0, -1));
    checkSearch(parent.attr, caller, what);
    return { parent, name: components.at(-1)!, trailingSlash };
  }

  /** Walks `components`; answers the directories passed through, ending with the inode named. */
  async #walk(
    components: string[],
    caller: Caller,
    followLast: boolean,
    links: { followed: number },
  ): Promise<Node[]> {
    let stack: Node[] = [await this.#inodes.getnode(this.#rootFid)];
    const queue = [...components];
    while (queue.length > 0) {
      const name = queue.shift()!;
      const dir = stack.at(-1)!;
      if (!isDir(dir.attr.mode))
        throw new KlError('ENOTDIR', `${dir.attr.fid} (before "${name}") is not a directory`);
      if (name === '..') {
        checkSearch(dir.attr, caller, `directory ${dir.attr.fid}`);
        if (stack.length > 1) stack.pop();
        continue;
      }
      const node = await this.#inodes.lookup(dir.attr, name, caller);
      if (isLnk(node.attr.mode) && (queue.length > 0 || followLast)) {
        if (++links.followed > SYMLINKS_FOLLOWED_MAX) {
          throw new KlError('ELOOP', `more than ${SYMLINKS_FOLLOWED_MAX} symlinks met resolving "${name}"`);
        }
        const target = await this.#inodes.readlink(node.attr.fid);
        if (target.startsWith('/')) stack = [stack[0]!];
        queue.unshift(...splitPath(target).components);
        continue;
      }
      stack.push(node);
    }
    return stack;
  }
}
