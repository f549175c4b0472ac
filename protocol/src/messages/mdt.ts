import { Type } from '@sinclair/typebox';
import { Layout } from '../layout/types.ts';
import { Empty, Statfs } from './common.ts';
import { defineOp } from './op.ts';

/** Lustre FID as text, `0xSEQ:0xOID:0xVER` (printed by lfs inside brackets). */
export const Fid = Type.String({ pattern: '^0x[0-9a-f]{1,16}:0x[0-9a-f]{1,8}:0x[0-9a-f]{1,8}$' });
/** A directory entry name: one path component. Length is checked by the MDT to answer ENAMETOOLONG. */
export const Name = Type.String({ minLength: 1, maxLength: 4096 });
export const Timespec = Type.Object({
  sec: Type.Integer(),
  nsec: Type.Integer({ minimum: 0, maximum: 999_999_999 }),
});

/** Inode attributes, as stat(2) reports them. `mode` carries the S_IF* type bits. */
export const Attr = Type.Object({
  fid: Fid,
  ino: Type.Integer({ minimum: 1 }),
  mode: Type.Integer({ minimum: 0 }),
  nlink: Type.Integer({ minimum: 0 }),
  uid: Type.Integer({ minimum: 0 }),
  gid: Type.Integer({ minimum: 0 }),
  rdev: Type.Integer({ minimum: 0 }),
  size: Type.Integer({ minimum: 0 }),
  blocks: Type.Integer({ minimum: 0 }),
  atime: Timespec,
  mtime: Timespec,
  ctime: Timespec,
  projid: Type.Integer({ minimum: 0 }),
});

/** An inode and, for regular files, its layout (with objects where instantiated). */
export const Node = Type.Object({ attr: Attr, layout: Type.Optional(Layout) });

export const getattr = defineOp(200, 'mdt.getattr', Type.Object({ fid: Fid }), Node);
export const lookup = defineOp(201, 'mdt.lookup', Type.Object({ parent: Fid, name: Name }), Node);

/** What mdt.create and mdt.create_open take. */
const CreateRequest = Type.Object({
  parent: Fid,
  name: Name,
  mode: Type.Integer({ minimum: 0 }),
  uid: Type.Integer({ minimum: 0 }),
  gid: Type.Integer({ minimum: 0 }),
  rdev: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Symlink target. */
  target: Type.Optional(Type.String({ minLength: 1, maxLength: 4095 })),
  layout: Type.Optional(Layout),
  /** O_EXCL: fail with EEXIST when the name exists; otherwise an existing regular file is returned. */
  exclusive: Type.Boolean(),
});
/**
 * Creates a file, directory, symlink or special file. A regular file takes `layout` if given, else its
 * parent's default layout, else the filesystem's; the components covering offset 0 get objects at once
 * (from precreated ids), later ones when a write reaches them (`layout_intent`).
 */
export const create = defineOp(202, 'mdt.create', CreateRequest, Node, true);

export const unlink = defineOp(
  203,
  'mdt.unlink',
  Type.Object({ parent: Fid, name: Name, dir: Type.Boolean() }),
  Empty,
  true,
);

export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const rename = defineOp(
  204,
  'mdt.rename',
  Type.Object({
    srcParent: Fid,
    srcName: Name,
    dstParent: Fid,
    dstName: Name,
    flags: Type.Integer({ minimum: 0, maximum: 3 }),
  }),
  Empty,
  true,
);

export const link = defineOp(205, 'mdt.link', Type.Object({ fid: Fid, parent: Fid, name: Name }), Node, true);

export const DirEntry = Type.Object({
  name: Type.String(),
  fid: Fid,
  ino: Type.Integer(),
  mode: Type.Integer(),
  /** Resume reading after this entry by passing it as `cookie`. */
  cookie: Type.Integer({ minimum: 1 }),
  /** With readdirplus. */
  node: Type.Optional(Node),
});
/** Entries in name order after `cookie` (0 = from the start); "." and ".." are the client's to add. */
export const readdir = defineOp(
  206,
  'mdt.readdir',
  Type.Object({
    fid: Fid,
    cookie: Type.Integer({ minimum: 0 }),
    countMax: Type.Integer({ minimum: 1, maximum: 4096 }),
    plus: Type.Boolean(),
  }),
  Type.Object({ entries: Type.Array(DirEntry), eof: Type.Boolean() }),
);

/** Timestamps: a Timespec, or 'now' for the server's clock (UTIME_NOW). */
const TimeSet = Type.Union([Timespec, Type.Literal('now')]);
export const setattr = defineOp(
  207,
  'mdt.setattr',
  Type.Object({
    fid: Fid,
    mode: Type.Optional(Type.Integer({ minimum: 0, maximum: 0o7777 })),
    uid: Type.Optional(Type.Integer({ minimum: 0 })),
    gid: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Truncate/extend. The client punches OST objects before shrinking; the MDT trims DoM data itself. */
    size: Type.Optional(Type.Integer({ minimum: 0 })),
    atime: Type.Optional(TimeSet),
    mtime: Type.Optional(TimeSet),
    projid: Type.Optional(Type.Integer({ minimum: 0 })),
  }),
  Node,
  true,
);

export const readlink = defineOp(
  208,
  'mdt.readlink',
  Type.Object({ fid: Fid }),
  Type.Object({ target: Type.String() }),
);

/** The value travels as the frame's data. */
export const getxattr = defineOp(
  209,
  'mdt.getxattr',
  Type.Object({ fid: Fid, name: Type.String({ minLength: 1, maxLength: 255 }) }),
  Empty,
);
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;
export const setxattr = defineOp(
  210,
  'mdt.setxattr',
  Type.Object({
    fid: Fid,
    name: Type.String({ minLength: 1, maxLength: 255 }),
    flags: Type.Integer({ minimum: 0, maximum: 3 }),
  }),
  Empty,
  true,
);
export const listxattr = defineOp(
  211,
  'mdt.listxattr',
  Type.Object({ fid: Fid }),
  Type.Object({ names: Type.Array(Type.String()) }),
);
export const removexattr = defineOp(
  212,
  'mdt.removexattr',
  Type.Object({ fid: Fid, name: Type.String({ minLength: 1, maxLength: 255 }) }),
  Empty,
  true,
);

/**
 * Write intent: instantiates (allocates objects for) every component overlapping [start, end), extending
 * or spilling self-extending components as needed, and returns the resulting layout.
 */
export const layoutIntent = defineOp(
  213,
  'mdt.layout_intent',
  Type.Object({ fid: Fid, start: Type.Integer({ minimum: 0 }), end: Type.Integer({ minimum: 1 }) }),
  Type.Object({ layout: Layout }),
  true,
);

/**
 * lfs setstripe: on an empty regular file whose layout has no objects yet, replaces its layout; on a
 * directory, sets (or with `layout` absent, removes) its default layout.
 */
export const setLayout = defineOp(
  214,
  'mdt.set_layout',
  Type.Object({ fid: Fid, layout: Type.Optional(Layout) }),
  Type.Object({ layout: Type.Optional(Layout) }),
  true,
);

/** Data-on-MDT reads and writes, within the DoM component's extent; data is the frame's data. */
export const domRead = defineOp(
  215,
  'mdt.dom_read',
  Type.Object({ fid: Fid, offset: Type.Integer({ minimum: 0 }), length: Type.Integer({ minimum: 0 }) }),
  Empty,
);
export const domWrite = defineOp(
  216,
  'mdt.dom_write',
  Type.Object({ fid: Fid, offset: Type.Integer({ minimum: 0 }), sync: Type.Boolean() }),
  Empty,
  true,
);

/**
 * After writing OST objects, the client raises the file's size (never lowers it: that is setattr's job)
 * and sets mtime/ctime. Sent on flush, fsync and close.
 */
export const sizeUpdate = defineOp(
  217,
  'mdt.size_update',
  Type.Object({ fid: Fid, size: Type.Integer({ minimum: 0 }), mtime: Timespec }),
  Node,
  true,
);

export const statfs = defineOp(218, 'mdt.statfs', Empty, Statfs);

/** Makes every metadata change so far durable on the MDT's storage (fsync/fsyncdir/sync). */
export const sync = defineOp(219, 'mdt.sync', Empty, Empty);

/** Looks an inode up by FID, for lfs fid2path-style tools and NFS-like handles. */
export const fid2path = defineOp(
  220,
  'mdt.fid2path',
  Type.Object({ fid: Fid }),
  Type.Object({ path: Type.String() }),
);

/**
 * Records that the calling client has the file open (Lustre's MDS_OPEN; one per client per file: the
 * client counts its own handles and sends this on the first). While any client has it open, unlinking
 * the file's last name leaves it an orphan (nlink 0, objects kept) instead of freeing it. Answers the
 * file's node (fresh attributes for close-to-open) and the lease the client must renew (`mdt.renew`)
 * within `leaseMs`, else the MDT drops its opens.
 */
export const open = defineOp(
  221,
  'mdt.open',
  Type.Object({ fid: Fid }),
  Type.Object({ node: Node, leaseMs: Type.Integer({ minimum: 1 }) }),
  true,
);

/**
 * Drops the calling client's open of the file (its last local handle closed). The last close of an
 * orphan frees it and puts its objects in the destroy log, in one transaction. Closing a file the
 * client does not hold open (already closed, or dropped by eviction) succeeds.
 */
export const close = defineOp(222, 'mdt.close', Type.Object({ fid: Fid }), Empty, true);

/**
 * Renews the calling client's lease on its opens (Lustre's pinger keeping an export alive). `evicted`
 * says the MDT dropped this client's opens since its last renewal because it was silent for longer than
 * the lease; it is answered once.
 */
export const renew = defineOp(
  223,
  'mdt.renew',
  Empty,
  Type.Object({ evicted: Type.Boolean(), leaseMs: Type.Integer({ minimum: 1 }) }),
  true,
);

/**
 * open(O_CREAT) in one round trip (Lustre's open intent): mdt.create of a regular file, and mdt.open of
 * the result for the calling client, in one transaction. Answers as mdt.open does.
 */
export const createOpen = defineOp(
  224,
  'mdt.create_open',
  CreateRequest,
  Type.Object({ node: Node, leaseMs: Type.Integer({ minimum: 1 }) }),
  true,
);

/**
 * What mdt.open2 and mdt.create_open2 answer: mdt.open's reply, and whether the file is PCC-tracked
 * (some client holds a read-only or read-write attachment of it, or is recording one). A client that
 * opened for write a file that is not tracked need not announce its writes (mdt.pcc_write_open): the
 * MDT counts its open as a writer, so no attachment can be made until its mdt.close (docs/pcc.md).
 */
const Open2Reply = Type.Object({
  node: Node,
  leaseMs: Type.Integer({ minimum: 1 }),
  pccTracked: Type.Boolean(),
});

/** A project's limits (Lustre's `lfs setquota -p`): 0 means no limit. */
export const QuotaLimits = Type.Object({
  blockHardBytes: Type.Integer({ minimum: 0 }),
  inodeHard: Type.Integer({ minimum: 0 }),
});
/** Project ids are 32-bit, as Lustre's (project 0 is "no project" and takes no limits). */
export const ProjectId = Type.Integer({ minimum: 0, maximum: 0xffff_ffff });

/**
 * `lfs project -p ID [-s] [-r]`: sets the inode's project id, and on a directory whether new children
 * inherit it (the inherit flag, Lustre's `-s`; a new subdirectory inherits the flag too). `recursive`
 * applies the same to every inode below a directory, in one transaction (bounded: EOVERFLOW beyond 100000 inodes).
 */
export const setProject = defineOp(
  225,
  'mdt.set_project',
  Type.Object({ fid: Fid, projid: ProjectId, inherit: Type.Boolean(), recursive: Type.Boolean() }),
  Type.Object({ changed: Type.Integer({ minimum: 0 }) }),
  true,
);

/** `lfs project -d`: an inode's project id and inherit flag. */
export const getProject = defineOp(
  226,
  'mdt.get_project',
  Type.Object({ fid: Fid }),
  Type.Object({ projid: ProjectId, inherit: Type.Boolean() }),
);

/** `lfs setquota -p ID -B … -I …`: sets (0 and 0 removes) a project's hard limits. */
export const quotaSet = defineOp(
  227,
  'mdt.quota_set',
  Type.Object({ projid: Type.Integer({ minimum: 1, maximum: 0xffff_ffff }), limits: QuotaLimits }),
  Empty,
  true,
);

/**
 * `lfs quota -p ID`: the project's limits and usage: inodes counted on the MDT, bytes allocated summed
 * over the OSTs' reports (asked afresh; an OST that does not answer contributes its last report).
 */
export const quotaGet = defineOp(
  228,
  'mdt.quota_get',
  Type.Object({ projid: ProjectId }),
  Type.Object({
    limits: QuotaLimits,
    usedBytes: Type.Integer({ minimum: 0 }),
    usedInodes: Type.Integer({ minimum: 0 }),
  }),
);

/**
 * Asked by a client whose write an OST refused with EDQUOT (Lustre's quota acquire, QSD → QMT): the MDT
 * takes back the project's unused grants from every other OST and grants OST `ost` what is left of the
 * limit. The client then retries its write once; a second EDQUOT is the project really being full.
 */
export const quotaAcquire = defineOp(
  229,
  'mdt.quota_acquire',
  Type.Object({
    projid: Type.Integer({ minimum: 1, maximum: 0xffff_ffff }),
    ost: Type.Integer({ minimum: 0 }),
  }),
  Empty,
);

/*
 * Read-only Persistent Client Cache (Lustre 2.13's RO-PCC). Each regular file has a data version,
 * bumped whenever a client announces a write (mdt.pcc_write_open); a client caching a whole copy of the
 * file on its local disk records an attachment at the version it copied, and serves cached reads only
 * while the MDT's version still equals it. See docs/pcc.md.
 */
const PccVersion = Type.Object({
  /** The file's data version: bumped by every mdt.pcc_write_open; 0 for a file never written so. */
  dataVersion: Type.Integer({ minimum: 0 }),
});

/**
 * Records that the calling client caches a whole copy of the file at its current data version. EBUSY
 * while any client has the file open for write (the copy could be torn); answers the version to copy
 * at. The client validates the version again after copying (mdt.pcc_state) before serving from it.
 */
export const pccAttach = defineOp(230, 'mdt.pcc_attach', Type.Object({ fid: Fid }), PccVersion, true);

/** Drops the calling client's attachment of the file (none: succeeds). */
export const pccDetach = defineOp(231, 'mdt.pcc_detach', Type.Object({ fid: Fid }), Empty, true);

/**
 * The calling client will write the file (open for write, or truncate): bumps its data version, drops
 * every client's attachment of it, and records the caller as a writer until mdt.pcc_write_close (or its
 * eviction). Sent before the open's first write, so every write lands after the bump.
 */
export const pccWriteOpen = defineOp(232, 'mdt.pcc_write_open', Type.Object({ fid: Fid }), PccVersion, true);

/** The calling client's last write handle on the file closed (its data flushed): it is no writer now. */
export const pccWriteClose = defineOp(
  233,
  'mdt.pcc_write_close',
  Type.Object({ fid: Fid }),
  PccVersion,
  true,
);

/**
 * The file's data version, whether the calling client is attached, and how many clients hold it open
 * for write: what a client checks before serving a cached read.
 */
export const pccState = defineOp(
  234,
  'mdt.pcc_state',
  Type.Object({ fid: Fid }),
  Type.Object({
    dataVersion: Type.Integer({ minimum: 0 }),
    attached: Type.Boolean(),
    writers: Type.Integer({ minimum: 0 }),
  }),
);

/*
 * Read-write PCC (Lustre 2.13's RW-PCC). A client holding a read-write attachment keeps the file's
 * current data only in its cache; its writes go there. Every other client's mdt.open, mdt.create_open of
 * the existing file, mdt.pcc_write_open and mdt.pcc_attach of the file fails with EAGAIN and asks the
 * MDT to have the data restored: the caching client learns of it through mdt.pcc_rw_poll, writes the
 * data back to the OSTs and detaches (mdt.pcc_rw_detach); the others retry, bounded. See docs/pcc.md.
 */

/** A cache directory's identity (a UUID kept in the directory): what a restarted mount recovers by. */
const CacheId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[0-9A-Za-z._-]+$' });

/**
 * Records that the calling client caches the file read-write from cache `cacheId`. EBUSY while another
 * client has the file open, writes it, or caches it read-write; drops every read-only attachment and
 * bumps the data version. The client then copies the file into its cache.
 */
export const pccAttachRw = defineOp(
  235,
  'mdt.pcc_attach_rw',
  Type.Object({ fid: Fid, cacheId: CacheId }),
  PccVersion,
  true,
);

/**
 * The calling client wrote its copy back to the OSTs (or gave it up): drops its read-write attachment,
 * bumps the data version and lets the waiting openers in. ESTALE when the caller holds none.
 */
export const pccRwDetach = defineOp(236, 'mdt.pcc_rw_detach', Type.Object({ fid: Fid }), PccVersion, true);

/**
 * The files the calling client caches read-write that another client asked for (their data must go
 * back to the OSTs). Held up to `holdMs` while there is none, so the caching client polls without
 * spinning; renews the caller's lease (a client caching read-write is evicted like one holding opens).
 * `held` is how many read-write attachments the MDT records for the caller.
 */
export const pccRwPoll = defineOp(
  237,
  'mdt.pcc_rw_poll',
  Type.Object({ holdMs: Type.Integer({ minimum: 0, maximum: 10_000 }) }),
  Type.Object({
    restore: Type.Array(Fid, { maxItems: 1024 }),
    held: Type.Integer({ minimum: 0 }),
  }),
);

/**
 * A mount restarted over cache `cacheId`: the read-write attachments recorded for that cache (made by
 * a previous client, e.g. a killed mount process) become the caller's; answers their FIDs, which the
 * caller writes back from its cache and detaches.
 */
export const pccRwRecover = defineOp(
  238,
  'mdt.pcc_rw_recover',
  Type.Object({ cacheId: CacheId }),
  Type.Object({ fids: Type.Array(Fid, { maxItems: 100_000 }) }),
  true,
);

/** Whether the calling client still holds its read-write attachment of the file: ESTALE if not. */
export const pccRwCheck = defineOp(239, 'mdt.pcc_rw_check', Type.Object({ fid: Fid }), PccVersion);

/**
 * mdt.open with the open's access mode: `write` (O_WRONLY, O_RDWR) records the open as a writer of the
 * file until the caller's mdt.close (or eviction): mdt.pcc_attach is refused meanwhile, as while a client
 * announced a write. A later mdt.open2 of a file the caller holds open adds the write intent. Answers
 * mdt.open's reply and `pccTracked`.
 */
export const open2 = defineOp(
  240,
  'mdt.open2',
  Type.Object({ fid: Fid, write: Type.Boolean() }),
  Open2Reply,
  true,
);

/** mdt.create_open with the open's access mode (`write`, as mdt.open2); answers as mdt.open2. */
export const createOpen2 = defineOp(
  241,
  'mdt.create_open2',
  Type.Object({ ...CreateRequest.properties, write: Type.Boolean() }),
  Open2Reply,
  true,
);
