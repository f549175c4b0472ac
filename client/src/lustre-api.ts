import type { FsConfigValue } from '@kubelustre/protocol/config-watcher.ts';
import { isKlError, KlError } from '@kubelustre/protocol/errors.ts';
import { Layout } from '@kubelustre/protocol/layout/types.ts';
import { validateTemplate } from '@kubelustre/protocol/layout/validate.ts';
import * as mdtOps from '@kubelustre/protocol/messages/mdt.ts';
import { decodeMessage } from '@kubelustre/protocol/messages/validate.ts';
import type { Node } from './attr.ts';
import type { InodeApi } from './inode-api.ts';
import { isDir, isReg } from './mode.ts';
import type { PathResolver } from './path-resolver.ts';
import { type Caller, checkAccess, isRoot, MAY_WRITE } from './permissions.ts';
import { type DfRow, dfRows, type StatfsValue } from './statfs.ts';
import { queryTargetSpaces } from './target-space.ts';
import type { TargetConnections } from './targets.ts';

/** The virtual xattr the MDT serves a file's layout or a directory's default layout under. */
const LUSTRE_LOV_XATTR = 'lustre.lov';
/** lfs setstripe creates missing files with this mode (llapi_file_open's default). */
const SETSTRIPE_CREATE_MODE = 0o644;

export interface LayoutInfo {
  fid: string;
  isDirectory: boolean;
  /** A file's layout, a directory's default layout; undefined for a directory without a default. */
  layout: Layout | undefined;
}

/** A project's hard limits (0: none), as `lfs setquota -p` sets them. */
export interface QuotaLimits {
  blockHardBytes: number;
  inodeHard: number;
}

/** `lfs quota -p`: a project's limits and usage (bytes allocated on the OSTs, inodes on the MDT). */
export interface ProjectQuota {
  limits: QuotaLimits;
  usedBytes: number;
  usedInodes: number;
}

export interface SetProjectOptions {
  /** On directories: new children take the project id (`lfs project -s`); false clears the flag. */
  inherit: boolean;
  /** Also every inode below a directory (`lfs project -r`). */
  recursive?: boolean;
}

export interface PoolInfo {
  name: string;
  osts: number[];
}

export interface LustreApiDeps {
  inodes: InodeApi;
  resolver: PathResolver;
  targets: TargetConnections;
  config: () => FsConfigValue;
  defaultCaller: Caller;
}

/** What `lfs` does, at the library level: layouts, pools, space. The CLI formats the results. */
export class LustreApi {
  readonly #deps: LustreApiDeps;

  constructor(deps: LustreApiDeps) {
    this.#deps = deps;
  }

  /** lfs getstripe: a file's layout, or a directory's default layout (`lfs getstripe -d`). */
  async getLayout(path: string, caller = this.#deps.defaultCaller): Promise<LayoutInfo> {
    const node = await this.#deps.resolver.resolve(path, caller, true);
    const { fid, mode } = node.attr;
    if (!isDir(mode)) return { fid, isDirectory: false, layout: node.layout };
    return { fid, isDirectory: true, layout: await this.#dirDefault(fid, caller) };
  }

  /**
   * lfs setstripe: on a missing path, creates an empty file with `template`; on a directory, sets its
   * default layout (owner or root only); on an existing regular file, replaces its layout, which the MDT
   * allows only while the file has no objects. Answers the layout stored.
   */
  async setstripe(
    path: string,
    template: Layout,
    caller = this.#deps.defaultCaller,
  ): Promise<Layout | undefined> {
    validateTemplate(template, this.#validateContext());
    const node = await this.#deps.resolver.resolve(path, caller, true).catch((e: unknown) => {
      if (isKlError(e, 'ENOENT')) return undefined;
      throw e;
    });
    if (!node) return this.#createWithLayout(path, template, caller);
    this.#checkMayChangeLayout(node, caller, path);
    const { reply } = await this.#deps.targets
      .mdt()
      .call(mdtOps.setLayout, { fid: node.attr.fid, layout: template });
    return reply.layout;
  }

  /**
   * getLayout by FID (for the FUSE adapter's lustre.lov xattr): a file's layout, or a directory's default
   * layout (undefined when it has none). Reading a directory's default needs no permission beyond what
   * the caller needed to reach the FID, as getxattr of lustre.lov.
   */
  async getLayoutOf(fid: string, caller = this.#deps.defaultCaller): Promise<LayoutInfo> {
    const node = await this.#deps.inodes.getnode(fid);
    if (!isDir(node.attr.mode)) return { fid, isDirectory: false, layout: node.layout };
    return { fid, isDirectory: true, layout: await this.#dirDefault(fid, caller) };
  }

  /**
   * setstripe by FID (for the FUSE adapter: setxattr of lustre.lov, or a layout set on a file it just
   * created). The template is validated against the filesystem (OST count, pools) first: EINVAL. On a
   * directory it sets the default layout (its owner or root: EPERM otherwise); on a regular file it
   * replaces the layout (write permission: EACCES), which the MDT allows only while the file holds no
   * data (EEXIST otherwise). A handle this client has open on the file takes the new layout at once.
   * Answers the layout stored.
   */
  async setLayoutOf(
    fid: string,
    template: Layout,
    caller = this.#deps.defaultCaller,
  ): Promise<Layout | undefined> {
    validateTemplate(template, this.#validateContext());
    const node = await this.#deps.inodes.getnode(fid);
    this.#checkMayChangeLayout(node, caller, fid);
    const { reply } = await this.#deps.targets.mdt().call(mdtOps.setLayout, { fid, layout: template });
    // getnode hands the new layout to the file's open state, if this client has it open.
    if (isReg(node.attr.mode)) await this.#deps.inodes.getnode(fid);
    return reply.layout;
  }

  /** lfs setstripe -d: the directory's new files take the parent's or the filesystem's default again. */
  async removeDirDefault(path: string, caller = this.#deps.defaultCaller): Promise<void> {
    const node = await this.#deps.resolver.resolve(path, caller, true);
    if (!isDir(node.attr.mode)) throw new KlError('ENOTDIR', `${path} is not a directory`);
    this.#checkMayChangeLayout(node, caller, path);
    await this.#deps.targets.mdt().call(mdtOps.setLayout, { fid: node.attr.fid });
  }

  /** lfs df (and df -i): one row per target and the summary; unreachable targets are marked inactive. */
  async df(mountPoint = ''): Promise<DfRow[]> {
    const { mdts, osts } = await queryTargetSpaces(this.#deps.targets);
    return dfRows(this.#deps.config().fsName, mdts, osts, mountPoint);
  }

  /** lfs pool_list: the pools of the current configuration, by name. */
  poolList(): PoolInfo[] {
    const pools = this.#deps.config().pools;
    return Object.keys(pools)
      .sort()
      .map((name) => ({ name, osts: [...pools[name]!].sort((a, b) => a - b) }));
  }

  /**
   * lfs project -p ID [-s] [-r] PATH: tags the inode (and with `recursive`, the tree below it) with a
   * project id. Only root or the owner may, as ext4's FS_IOC_FSSETXATTR allows. Answers inodes changed.
   */
  async setProject(
    path: string,
    projid: number,
    opts: SetProjectOptions,
    caller = this.#deps.defaultCaller,
  ): Promise<number> {
    const node = await this.#deps.resolver.resolve(path, caller, true);
    if (!isRoot(caller) && caller.uid !== node.attr.uid)
      throw new KlError('EPERM', `uid ${caller.uid} may not set the project of ${path}: not its owner`);
    const req = { fid: node.attr.fid, projid, inherit: opts.inherit, recursive: opts.recursive ?? false };
    return (await this.#deps.targets.mdt().call(mdtOps.setProject, req)).reply.changed;
  }

  /** lfs project -d PATH: the inode's project id and whether new children inherit it. */
  async getProject(
    path: string,
    caller = this.#deps.defaultCaller,
  ): Promise<{ projid: number; inherit: boolean }> {
    const node = await this.#deps.resolver.resolve(path, caller, true);
    return (await this.#deps.targets.mdt().call(mdtOps.getProject, { fid: node.attr.fid })).reply;
  }

  /** lfs setquota -p ID -B BYTES -I INODES: root only, as in Lustre. */
  async setQuota(projid: number, limits: QuotaLimits, caller = this.#deps.defaultCaller): Promise<void> {
    if (!isRoot(caller)) throw new KlError('EPERM', `uid ${caller.uid} may not set quotas: root only`);
    if (projid === 0) throw new KlError('EINVAL', 'project 0 is no project: it takes no limits');
    await this.#deps.targets.mdt().call(mdtOps.quotaSet, { projid, limits });
  }

  /** lfs quota -p ID: limits and fresh usage of a project. */
  async getQuota(projid: number): Promise<ProjectQuota> {
    return (await this.#deps.targets.mdt().call(mdtOps.quotaGet, { projid })).reply;
  }

  /** statfs of the whole filesystem (blocks from OSTs, files from the MDT). */
  statfs(): Promise<StatfsValue> {
    return this.#deps.inodes.statfs();
  }

  async #dirDefault(fid: string, caller: Caller): Promise<Layout | undefined> {
    try {
      const bytes = await this.#deps.inodes.getxattr(fid, LUSTRE_LOV_XATTR, caller);
      return decodeMessage(Layout, bytes, `default layout of ${fid}`);
    } catch (e) {
      if (isKlError(e, 'ENODATA')) return undefined;
      throw e;
    }
  }

  async #createWithLayout(path: string, layout: Layout, caller: Caller): Promise<Layout | undefined> {
    const { parent, name, trailingSlash } = await this.#deps.resolver.resolveParent(path, caller, 'EISDIR');
    if (trailingSlash) throw new KlError('ENOENT', `${path}: no such directory`);
    const created = await this.#deps.inodes.create(
      parent.attr,
      name,
      SETSTRIPE_CREATE_MODE,
      { layout },
      caller,
    );
    return created.layout;
  }

  /** A directory default is its owner's (or root's) to set; a file's layout needs write permission. */
  #checkMayChangeLayout(node: Node, caller: Caller, path: string): void {
    const { attr } = node;
    if (isDir(attr.mode)) {
      if (!isRoot(caller) && caller.uid !== attr.uid) {
        throw new KlError('EPERM', `uid ${caller.uid} does not own directory ${path}`);
      }
      return;
    }
    if (!isReg(attr.mode)) throw new KlError('EINVAL', `${path} is neither a regular file nor a directory`);
    checkAccess(attr, caller, MAY_WRITE, path);
  }

  #validateContext(): { ostCount: number; pools: Record<string, number[]> } {
    const config = this.#deps.config();
    const ostIndexes = config.targets.filter((t) => t.role === 'ost').map((t) => t.index);
    return { ostCount: ostIndexes.length === 0 ? 0 : Math.max(...ostIndexes) + 1, pools: config.pools };
  }
}
