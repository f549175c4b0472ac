import { Type } from '@sinclair/typebox';
import { Empty, Statfs } from './common.ts';
import { defineOp } from './op.ts';

/** OST object id (Lustre's objid in group 0), unique on its OST; allocated by precreate. */
export const ObjId = Type.Integer({ minimum: 1 });
const Length = Type.Integer({ minimum: 0, maximum: 8 * 1024 * 1024 });
/**
 * The project the object's file belongs to (0: none), sent by the client with every op that allocates
 * or frees space, so the OST charges the object's allocated bytes to it and enforces its limit.
 */
const ProjId = Type.Integer({ minimum: 0, maximum: 0xffff_ffff });

/**
 * Reads up to `length` bytes at `offset`; the frame's data is shorter when the object ends first.
 * Holes and never-written (precreated) objects read as zeros up to their size.
 */
export const read = defineOp(
  300,
  'ost.read',
  Type.Object({ objId: ObjId, offset: Type.Integer({ minimum: 0 }), length: Length }),
  Type.Object({ size: Type.Integer({ minimum: 0 }) }),
);

/** Writes the frame's data at `offset`; with `sync`, the data is on stable storage before the reply. */
export const write = defineOp(
  301,
  'ost.write',
  Type.Object({
    objId: ObjId,
    offset: Type.Integer({ minimum: 0 }),
    sync: Type.Boolean(),
    projid: ProjId,
  }),
  Type.Object({ size: Type.Integer({ minimum: 0 }) }),
);

/** Truncates or extends an object to `size` (Lustre's OST_PUNCH as used by truncate). */
export const punch = defineOp(
  302,
  'ost.punch',
  Type.Object({ objId: ObjId, size: Type.Integer({ minimum: 0 }), projid: ProjId }),
  Empty,
);

/** fdatasync of the named objects (all written objects when the list is empty). */
export const sync = defineOp(
  303,
  'ost.sync',
  Type.Object({ objIds: Type.Array(ObjId, { maxItems: 4096 }) }),
  Empty,
);

export const getattr = defineOp(
  304,
  'ost.getattr',
  Type.Object({ objId: ObjId }),
  Type.Object({ size: Type.Integer({ minimum: 0 }), blocks: Type.Integer({ minimum: 0 }) }),
);

export const statfs = defineOp(305, 'ost.statfs', Empty, Statfs);

/**
 * Reserves `count` new object ids, durably, for one MDT: a file create then needs no OST round trip. The
 * objects come into being on first write.
 */
export const precreate = defineOp(
  306,
  'ost.precreate',
  Type.Object({
    mdtIndex: Type.Integer({ minimum: 0 }),
    count: Type.Integer({ minimum: 1, maximum: 100_000 }),
  }),
  Type.Object({ first: ObjId, last: ObjId }),
  true,
);

/** Destroys objects of unlinked files; destroying a missing object succeeds (idempotent). */
export const destroy = defineOp(
  307,
  'ost.destroy',
  Type.Object({ objIds: Type.Array(ObjId, { minItems: 1, maxItems: 4096 }) }),
  Empty,
);

/** SEEK_DATA / SEEK_HOLE within one object; ENXIO past the end. */
export const seek = defineOp(
  308,
  'ost.seek',
  Type.Object({
    objId: ObjId,
    offset: Type.Integer({ minimum: 0 }),
    whence: Type.Union([Type.Literal('data'), Type.Literal('hole')]),
  }),
  Type.Object({ offset: Type.Integer({ minimum: 0 }) }),
);

/** Lists object ids present, for orphan checks (`after` = resume point; bounded batches). */
export const listObjects = defineOp(
  309,
  'ost.list_objects',
  Type.Object({
    after: Type.Integer({ minimum: 0 }),
    countMax: Type.Integer({ minimum: 1, maximum: 10_000 }),
  }),
  Type.Object({ objIds: Type.Array(ObjId), eof: Type.Boolean() }),
);

/** fallocate(2) mode bits an OST accepts (Linux's values, linux/falloc.h). */
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;

/**
 * fallocate(2) on one object: mode 0 reserves [offset, offset + length) (extending the object),
 * FALLOC_FL_KEEP_SIZE reserves without extending, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE deallocates
 * the range (it reads as zeros). Any other mode answers ENOTSUP. Creates a never-written object.
 * Idempotent, like every OST op.
 */
export const fallocate = defineOp(
  310,
  'ost.fallocate',
  Type.Object({
    objId: ObjId,
    mode: Type.Integer({ minimum: 0, maximum: 3 }),
    offset: Type.Integer({ minimum: 0 }),
    length: Type.Integer({ minimum: 1 }),
    projid: ProjId,
  }),
  Empty,
);

/**
 * Bytes a project may hold on one OST (granted by the MDT, the quota master), and the project's whole
 * limit (for messages); a project without a grant has no limit.
 */
export const QuotaGrant = Type.Object({
  projid: ProjId,
  allowedBytes: Type.Integer({ minimum: 0 }),
  limitBytes: Type.Integer({ minimum: 0 }),
});

/**
 * The MDT's quota round (Lustre's QMT → QSD): replaces the OST's whole set of project grants, and
 * answers the bytes each project has allocated on this OST (with the growth of writes in flight).
 * Idempotent.
 */
export const quotaSync = defineOp(
  311,
  'ost.quota_sync',
  Type.Object({ grants: Type.Array(QuotaGrant, { maxItems: 100_000 }) }),
  Type.Object({
    usage: Type.Array(Type.Object({ projid: ProjId, bytes: Type.Integer({ minimum: 0 }) }), {
      maxItems: 100_000,
    }),
  }),
);
