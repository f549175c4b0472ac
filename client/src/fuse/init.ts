import {
  FUSE_KERNEL_MINOR_VERSION,
  FUSE_KERNEL_VERSION,
  FUSE_MIN_READ_BUFFER,
  InitFlag,
  InitFlag2,
  type InitIn,
  type InitOut,
} from './kernel-abi.ts';

const MiB = 1024 * 1024;
const PAGE_BYTES = 4096;

/** The limits we ask of the kernel at INIT; each bounds memory or requests in flight. */
export interface InitLimits {
  /** Largest WRITE (and READ) payload; the device read buffers are this plus headers. */
  maxWriteBytes: number;
  /** Background requests (readahead, async direct I/O) the kernel keeps in flight at most. */
  maxBackground: number;
}

export const DEFAULT_INIT_LIMITS: InitLimits = { maxWriteBytes: MiB, maxBackground: 64 };

/**
 * The INIT flags we ask for; the reply carries the ones the kernel also offered. Left off, and why:
 * - WRITEBACK_CACHE: the kernel would keep dirty pages and treat its own size and mtime as the truth,
 *   so another client's size change would be ignored (breaking close-to-open), partial-page writes
 *   would turn into read-modify-write, and O_WRONLY opens into O_RDWR. The library already gathers
 *   writes in its own write-back cache, so write-through costs little.
 * - HANDLE_KILLPRIV(_V2): without it the kernel clears set-user-id/set-group-id bits itself, with an
 *   explicit SETATTR, on write, truncate and chown; only files with those bits pay for it.
 * - EXPORT_SUPPORT: NFS re-export needs LOOKUP of "..", which the MDT cannot answer by FID.
 * - POSIX_LOCKS, FLOCK_LOCKS: there is no cluster lock manager; the kernel keeps locks per node.
 * - SPLICE_*: Node cannot splice; POSIX_ACL, DONT_MASK: no ACLs (the kernel applies the umask).
 * - EXPLICIT_INVAL_DATA, ABORT_ERROR, security contexts, DAX: not wanted.
 */
export const WANTED_INIT_FLAGS =
  InitFlag.ASYNC_READ | // several READs (readahead) in flight per file
  InitFlag.ATOMIC_O_TRUNC | // O_TRUNC travels in OPEN: one request instead of OPEN + SETATTR
  InitFlag.BIG_WRITES | // WRITEs up to max_write, not one page
  InitFlag.MAX_PAGES | // max_pages below is honoured (1 MiB requests)
  InitFlag.AUTO_INVAL_DATA | // cached pages are dropped when a fresh getattr shows a new mtime or size
  InitFlag.DO_READDIRPLUS | // readdir brings attributes: `ls -l` needs no LOOKUP per entry
  InitFlag.READDIRPLUS_AUTO | // ... but only when the kernel sees lookups follow readdir
  InitFlag.PARALLEL_DIROPS | // lookups and readdirs in one directory run concurrently
  InitFlag.ASYNC_DIO | // large O_DIRECT I/O is split into parallel requests
  InitFlag.CACHE_SYMLINKS | // a symlink's target never changes, so caching it is coherent
  InitFlag.SETXATTR_EXT | // the extended fuse_setxattr_in (decoded by size)
  InitFlag.INIT_EXT; // flags2 is read and answered (PASSTHROUGH below)

/**
 * flags2: PASSTHROUGH, when the session wants it, so an open can hand its reads to a local backing file
 * (the PCC copy). The kernel refuses it with WRITEBACK_CACHE (which we never ask) and needs
 * max_stack_depth 1..2: 1 here (see InitOut.maxStackDepth).
 */
export const PASSTHROUGH_STACK_DEPTH = 1;

export interface Negotiated {
  /** What to answer; undefined when the kernel's major version is too old (answer EPROTO). */
  reply: InitOut | undefined;
  /** Flags in effect. */
  flags: number;
  setxattrExt: boolean;
  /** FUSE_PASSTHROUGH is in effect: opens may carry FOPEN_PASSTHROUGH and a backing id. */
  passthrough: boolean;
}

export interface InitWants {
  /** Ask for FUSE_PASSTHROUGH if the kernel offers it (default true). */
  passthrough?: boolean;
}

/**
 * FUSE's version negotiation: both sides use the smaller minor version. A kernel with a larger major
 * gets our major only and sends INIT again; one with a smaller major cannot be served.
 */
export function negotiateInit(
  init: InitIn,
  limits: InitLimits = DEFAULT_INIT_LIMITS,
  wants: InitWants = {},
): Negotiated {
  const empty = { flags: 0, setxattrExt: false, passthrough: false };
  if (init.major < FUSE_KERNEL_VERSION) return { reply: undefined, ...empty };
  const base = { major: FUSE_KERNEL_VERSION, minor: FUSE_KERNEL_MINOR_VERSION };
  if (init.major > FUSE_KERNEL_VERSION) {
    const zero = { maxReadahead: 0, flags: 0, flags2: 0, maxBackground: 0, congestionThreshold: 0 };
    return { reply: { ...base, ...zero, maxWrite: 0, timeGran: 0, maxPages: 0 }, ...empty };
  }
  const flags = init.flags & WANTED_INIT_FLAGS;
  const passthrough =
    wants.passthrough !== false &&
    (flags & InitFlag.INIT_EXT) !== 0 &&
    (init.flags2 & InitFlag2.PASSTHROUGH) !== 0;
  const reply: InitOut = {
    major: FUSE_KERNEL_VERSION,
    minor: Math.min(init.minor, FUSE_KERNEL_MINOR_VERSION),
    // The kernel only ever lowers its readahead to ours; the library does its own, larger readahead.
    maxReadahead: init.maxReadahead,
    flags,
    flags2: passthrough ? InitFlag2.PASSTHROUGH : 0,
    maxBackground: limits.maxBackground,
    // Above this many background requests the kernel reports the bdi congested: 3/4 as libfuse does.
    congestionThreshold: Math.floor((limits.maxBackground * 3) / 4),
    maxWrite: limits.maxWriteBytes,
    timeGran: 1,
    maxPages: Math.ceil(limits.maxWriteBytes / PAGE_BYTES),
    maxStackDepth: passthrough ? PASSTHROUGH_STACK_DEPTH : 0,
  };
  return { reply, flags, setxattrExt: (flags & InitFlag.SETXATTR_EXT) !== 0, passthrough };
}

/** A device read buffer fits the largest WRITE with its headers; the kernel refuses smaller ones. */
export function readBufferBytes(limits: InitLimits): number {
  return Math.max(limits.maxWriteBytes + PAGE_BYTES, FUSE_MIN_READ_BUFFER);
}
