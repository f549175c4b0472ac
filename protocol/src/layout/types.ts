import { type Static, Type } from '@sinclair/typebox';

/** Lustre's "to end of file" extent end (lcme_extent.e_end = EOF). On the wire and in JSON: -1. */
export const EOF_EXTENT = -1;

/** One OST object of an instantiated component: Lustre's lov_ost_data (l_ost_idx, l_object_id). */
export const OstObject = Type.Object({
  ostIdx: Type.Integer({ minimum: 0 }),
  objId: Type.Integer({ minimum: 1 }),
});
export type OstObject = Static<typeof OstObject>;

/**
 * One component of a composite layout (Lustre's lov_comp_md_entry_v1 + lov_mds_md), or the whole layout
 * of a plain file. Striping uses absolute file offsets, as in Lustre.
 */
export const LayoutComponent = Type.Object({
  /** lcme_id: unique within the file, assigned by the MDT when a layout is stored. 0 in templates. */
  id: Type.Integer({ minimum: 0 }),
  /** lcme_extent.e_start, bytes. */
  start: Type.Integer({ minimum: 0 }),
  /** lcme_extent.e_end, bytes, or -1 for EOF. */
  end: Type.Integer({ minimum: -1 }),
  /** raid0: striped over OSTs; mdt: Data-on-MDT (first component only); overstriping is raid0 + overstriped. */
  pattern: Type.Union([Type.Literal('raid0'), Type.Literal('mdt')]),
  /** -C: more stripes than OSTs allowed, several on one OST. */
  overstriped: Type.Optional(Type.Boolean()),
  /** lmm_stripe_size, bytes: a multiple of 64 KiB. For DoM, the component's size. */
  stripeSize: Type.Integer({ minimum: 0 }),
  /** lmm_stripe_count: -1 means every OST (of the pool). 0 means "use the default". */
  stripeCount: Type.Integer({ minimum: -1 }),
  /** lmm_stripe_offset: first OST index, or -1 to let the allocator choose. */
  stripeOffset: Type.Integer({ minimum: -1 }),
  /** lmm_pool_name. */
  pool: Type.Optional(Type.String({ maxLength: 15 })),
  /** Self-extending layout (-z): the extension size, bytes, set on the extension component. */
  extensionSize: Type.Optional(Type.Integer({ minimum: 0 })),
  /** LCME_FL_EXTENSION: this is the SEL extension-space component following the one it grows. */
  extension: Type.Optional(Type.Boolean()),
  /** Present once instantiated (LCME_FL_INIT); one entry per stripe, in stripe order. */
  objects: Type.Optional(Type.Array(OstObject)),
});
export type LayoutComponent = Static<typeof LayoutComponent>;

/**
 * A file's layout (lustre.lov), a directory's default layout, or the filesystem default. A plain
 * (non-composite) layout is one component spanning [0, EOF) with `composite: false`.
 */
export const Layout = Type.Object({
  composite: Type.Boolean(),
  /** lcm_layout_gen: bumped every time the layout changes. */
  generation: Type.Integer({ minimum: 0 }),
  components: Type.Array(LayoutComponent, { minItems: 1, maxItems: 64 }),
});
export type Layout = Static<typeof Layout>;

export const KIB = 1024;
export const MIB = 1024 * KIB;
export const GIB = 1024 * MIB;

/** Lustre's LOV_MIN_STRIPE_SIZE: stripe sizes are multiples of it. */
export const STRIPE_SIZE_UNIT = 64 * KIB;
/** Lustre's LOV_MAX_STRIPE_COUNT. */
export const STRIPE_COUNT_MAX = 2000;
/** Default stripe size and count when nothing else says (Lustre's defaults). */
export const DEFAULT_STRIPE_SIZE = MIB;
export const DEFAULT_STRIPE_COUNT = 1;

/** Lustre stores stripe sizes in 32 bits: a stripe size must be below 4 GiB. */
export const STRIPE_SIZE_LIMIT = 4 * GIB;
/** The most components one layout holds (matches the `Layout` schema's maxItems). */
export const COMPONENT_COUNT_MAX = 64;
/** lfs refuses a DoM component larger than this whatever the MDT allows ("'mdt' layout size is too big"). */
export const DOM_SIZE_LFS_MAX = GIB;
