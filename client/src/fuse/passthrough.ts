import { fstatSync } from 'node:fs';
import type { Logger } from '@kubelustre/protocol/log.ts';
import type { OpenResult } from './fuse-ops.ts';
import { FOPEN_DIRECT_IO, FOPEN_PASSTHROUGH, FOPEN_PASSTHROUGH_ALLOWED, type OpenOut } from './kernel-abi.ts';

/** open(2)'s access mode bits and their read-only value. */
const O_ACCMODE = 0o3;
const O_RDONLY = 0;

/** What registering a backing file answered: its id, or the errno name the ioctl failed with. */
export type BackingOpened = { backingId: number } | { error: string };

/** The connection's backing files (FUSE_DEV_IOC_BACKING_OPEN/CLOSE on a /dev/fuse fd), or a fake. */
export interface BackingFiles {
  open(fd: number): BackingOpened;
  close(backingId: number): void;
}

/**
 * Failures that say passthrough cannot work on this connection at all, so it is not tried again:
 * EPERM (no CAP_SYS_ADMIN, or passthrough not negotiated), EOPNOTSUPP/ENOTTY (a kernel without it),
 * EINVAL (a kernel that wants other flags), ELOOP (the cache is on a stacked filesystem, e.g. overlayfs,
 * deeper than the max_stack_depth we negotiated). Others (EBADF, EISDIR) concern one file.
 */
const CONNECTION_WIDE = new Set(['EPERM', 'EOPNOTSUPP', 'ENOTSUP', 'ENOTTY', 'EINVAL', 'ELOOP', 'ENOSYS']);

/** The kernel's I/O mode of one inode, as far as our answers decided it. */
interface NodeIo {
  /** Opens answered without FOPEN_PASSTHROUGH (the kernel's "cached" mode, or direct I/O). */
  cached: number;
  /** Opens answered with FOPEN_PASSTHROUGH, all naming `backingId`. */
  passthrough: number;
  backingId: number | undefined;
  /** st_dev:st_ino of the backing file, to tell whether a new copy is the same file. */
  backingFile: string | undefined;
}

interface HandleIo {
  nodeid: number;
  passthrough: boolean;
}

/**
 * Decides FOPEN_PASSTHROUGH per open and keeps the kernel's rules (fs/fuse/iomode.c), which otherwise
 * fail the application's open(2) with EIO:
 * - an inode open without passthrough (cached or direct I/O: a direct-I/O file's mmap also enters
 *   cached mode) cannot get a passthrough open: such opens fall back to READs served by the ops layer;
 * - an inode open with passthrough gets every further open with passthrough too, naming the same backing
 *   file (one per inode): an open without a copy, or with another copy, or for writing, gets
 *   FOPEN_PASSTHROUGH | FOPEN_DIRECT_IO, whose reads and writes come to us (only mmap uses the backing
 *   file, which for a copy is the content of the time it was registered);
 * - FOPEN_PASSTHROUGH allows only a few other flags (FOPEN_KEEP_CACHE is dropped).
 * Only read-only opens are passed through: the kernel opens the backing file with the FUSE file's own
 * flags, so a write would land in the local copy instead of the filesystem.
 *
 * The backing id is closed when the last open naming it is released: the kernel drops its inode's
 * mode before it sends RELEASE, so our counts never lag behind its own.
 */
export class PassthroughTable {
  readonly #backing: BackingFiles;
  readonly #log: Logger;
  readonly #nodes = new Map<number, NodeIo>();
  readonly #handles = new Map<number, HandleIo>();
  #disabledBy: string | undefined;
  #registered = 0;

  constructor(backing: BackingFiles, log: Logger) {
    this.#backing = backing;
    this.#log = log;
  }

  /** Backing files registered so far (for tests and logs). */
  get registered(): number {
    return this.#registered;
  }

  /** Why passthrough was turned off for the connection, if it was. */
  get disabledBy(): string | undefined {
    return this.#disabledBy;
  }

  /** The reply to an OPEN/CREATE of `nodeid` with `openFlags` (O_*), as the ops layer answered it. */
  onOpen(nodeid: number, openFlags: number, result: OpenResult): OpenOut {
    const node = this.#node(nodeid);
    const fd = (openFlags & O_ACCMODE) === O_RDONLY ? result.passthroughFd : undefined;
    if (node.backingId !== undefined) {
      const same = fd !== undefined && fileIdentity(fd) === node.backingFile;
      return this.#answer(node, nodeid, result, same ? 0 : FOPEN_DIRECT_IO);
    }
    if (fd !== undefined && node.cached === 0 && this.#disabledBy === undefined && this.#register(node, fd)) {
      return this.#answer(node, nodeid, result, 0);
    }
    node.cached++;
    this.#handles.set(result.fh, { nodeid, passthrough: false });
    return { fh: result.fh, openFlags: result.openFlags };
  }

  /** RELEASE of handle `fh` (after the kernel let go of it). */
  onRelease(fh: number): void {
    const h = this.#handles.get(fh);
    if (!h) return;
    this.#handles.delete(fh);
    const node = this.#nodes.get(h.nodeid);
    if (!node) return;
    if (!h.passthrough) node.cached--;
    else if (--node.passthrough === 0 && node.backingId !== undefined) {
      this.#closeBacking(node.backingId);
      node.backingId = undefined;
      node.backingFile = undefined;
    }
    if (node.cached === 0 && node.passthrough === 0) this.#nodes.delete(h.nodeid);
  }

  #closeBacking(backingId: number): void {
    try {
      this.#backing.close(backingId);
    } catch (e) {
      // The kernel keeps the file until the connection ends: a leak, not a wrong answer.
      this.#log.warn({ backingId, err: (e as Error).message }, 'Failed to close a passthrough backing id');
    }
  }

  #answer(node: NodeIo, nodeid: number, result: OpenResult, extra: number): OpenOut {
    node.passthrough++;
    this.#handles.set(result.fh, { nodeid, passthrough: true });
    const openFlags = (result.openFlags & FOPEN_PASSTHROUGH_ALLOWED) | FOPEN_PASSTHROUGH | extra;
    return { fh: result.fh, openFlags, backingId: node.backingId! };
  }

  #register(node: NodeIo, fd: number): boolean {
    const identity = fileIdentity(fd);
    const opened = identity === undefined ? { error: 'EBADF' } : this.#backing.open(fd);
    if ('error' in opened) {
      if (CONNECTION_WIDE.has(opened.error)) {
        this.#disabledBy = opened.error;
        this.#log.warn(
          { errno: opened.error },
          'FUSE passthrough is unavailable on this connection; cached reads go through the mount process',
        );
      } else {
        this.#log.debug({ errno: opened.error, fd }, 'Could not register a passthrough backing file');
      }
      return false;
    }
    this.#registered++;
    node.backingId = opened.backingId;
    node.backingFile = identity;
    return true;
  }

  #node(nodeid: number): NodeIo {
    let node = this.#nodes.get(nodeid);
    if (!node) {
      node = { cached: 0, passthrough: 0, backingId: undefined, backingFile: undefined };
      this.#nodes.set(nodeid, node);
    }
    return node;
  }
}

/** `st_dev:st_ino` of an open fd; undefined when the fd is not open. */
function fileIdentity(fd: number): string | undefined {
  try {
    const s = fstatSync(fd);
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}

/** An OPEN reply without passthrough: the ops layer's answer minus its fd (which it keeps). */
export function withoutPassthrough(result: OpenResult): OpenOut {
  return { fh: result.fh, openFlags: result.openFlags };
}
