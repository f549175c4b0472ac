import { Type } from '@sinclair/typebox';
import { Layout } from '../layout/types.ts';
import { Empty, Statfs } from './common.ts';
import { defineOp } from './op.ts';

export const TargetRole = Type.Union([Type.Literal('mdt'), Type.Literal('ost')]);
export const TargetState = Type.Union([Type.Literal('up'), Type.Literal('down')]);

/** `host:port`, or up to 8 of them joined by commas: one target's addresses, tried in order (a NID list). */
const Address = Type.String({
  pattern: '^[^\\s:,]+:[0-9]{1,5}(,[^\\s:,]+:[0-9]{1,5}){0,7}$',
  maxLength: 2200,
});

export const TargetInfo = Type.Object({
  role: TargetRole,
  index: Type.Integer({ minimum: 0, maximum: 0xffff }),
  /** Stable identity of the target's storage (written at format time); guards against index clashes. */
  uuid: Type.String({ maxLength: 64 }),
  address: Address,
  state: TargetState,
  /** Last space report; not part of the config version (it changes constantly). */
  space: Type.Optional(Statfs),
  lastSeenMs: Type.Integer({ minimum: 0 }),
});

/** Filesystem configuration as the MGS serves it to clients and targets (Lustre's config llog). */
export const FsConfig = Type.Object({
  fsName: Type.String({ pattern: '^[a-zA-Z0-9_-]{1,8}$' }),
  /** Bumped on every membership, pool or default-layout change. */
  version: Type.Integer({ minimum: 0 }),
  targets: Type.Array(TargetInfo),
  pools: Type.Record(Type.String(), Type.Array(Type.Integer({ minimum: 0 }))),
  defaultLayout: Layout,
});

/** A target announces itself when it starts (and after an MGS restart). */
export const register = defineOp(
  100,
  'mgs.register',
  Type.Object({
    role: TargetRole,
    index: Type.Integer({ minimum: 0, maximum: 0xffff }),
    uuid: Type.String({ maxLength: 64 }),
    address: Address,
  }),
  Type.Object({ fsName: Type.String(), version: Type.Integer() }),
  true,
);

/** Periodic space report and heartbeat from a target. */
export const report = defineOp(
  101,
  'mgs.report',
  Type.Object({ role: TargetRole, index: Type.Integer({ minimum: 0 }), space: Statfs }),
  Empty,
);

/**
 * Fetches the configuration. If the MGS's version is not newer than `sinceVersion`, the reply waits up to
 * `waitMs` for a change (long poll), which is how clients learn of new OSTs and pools without remounting.
 */
export const config = defineOp(
  102,
  'mgs.config',
  Type.Object({
    sinceVersion: Type.Integer({ minimum: -1 }),
    waitMs: Type.Integer({ minimum: 0, maximum: 300_000 }),
  }),
  FsConfig,
);

/** lctl pool_new / pool_add / pool_remove / pool_destroy. */
export const pool = defineOp(
  103,
  'mgs.pool',
  Type.Object({
    op: Type.Union([
      Type.Literal('new'),
      Type.Literal('add'),
      Type.Literal('remove'),
      Type.Literal('destroy'),
    ]),
    pool: Type.String({ pattern: '^[a-zA-Z0-9_-]{1,15}$' }),
    osts: Type.Array(Type.Integer({ minimum: 0, maximum: 0xffff }), { maxItems: 65536 }),
  }),
  Type.Object({ version: Type.Integer() }),
  true,
);

/** Sets the filesystem-wide default layout (lfs setstripe on the root, as Lustre stores it). */
export const setDefaultLayout = defineOp(
  104,
  'mgs.set_default_layout',
  Type.Object({ layout: Layout }),
  Type.Object({ version: Type.Integer() }),
  true,
);
