import {
  COMPONENT_COUNT_MAX,
  DOM_SIZE_LFS_MAX,
  EOF_EXTENT,
  STRIPE_COUNT_MAX,
  STRIPE_SIZE_LIMIT,
  STRIPE_SIZE_UNIT,
} from '@kubelustre/protocol/layout/types.ts';
import { type Static, Type } from '@sinclair/typebox';
import { type CelRule, celRules } from './cel.ts';

/**
 * A PFL (progressive file layout) as a user writes it in a LayoutPolicy or a filesystem's default
 * layout: the components of `lfs setstripe -E ...`, in order. The CEL rules here refuse what
 * protocol/src/layout/validate.ts would refuse without knowing the filesystem, so a bad layout fails at
 * `kubectl apply` rather than in a reconciler. What needs the filesystem (a pool that exists, OST indexes)
 * is the reconciler's to report.
 */

const UNIT = STRIPE_SIZE_UNIT;
const EOF = EOF_EXTENT;
const isDom = 'has(self.mdt) && self.mdt';

const componentRules: CelRule[] = [
  {
    rule: `self.end == ${EOF} || (self.end > 0 && self.end % ${UNIT} == 0)`,
    message: `end must be -1 (EOF) or a positive multiple of 64 KiB (${UNIT} bytes)`,
    fieldPath: '.end',
  },
  {
    rule: `!has(self.stripeSize) || self.stripeSize <= 0 || self.end == ${EOF} || self.end % self.stripeSize == 0`,
    message: "end must be a multiple of the component's stripeSize",
    fieldPath: '.end',
  },
  {
    rule: `!(${isDom}) || self.end != ${EOF}`,
    message: 'a Data-on-MDT component (mdt: true) cannot end at EOF: its end is the size kept on the MDT',
    fieldPath: '.end',
  },
  {
    rule: `!(${isDom}) || self.end <= ${DOM_SIZE_LFS_MAX}`,
    message: `a Data-on-MDT component (mdt: true) holds at most 1 GiB: end must be at most ${DOM_SIZE_LFS_MAX}`,
    fieldPath: '.end',
  },
  {
    rule: `!(${isDom}) || !has(self.stripeSize) || self.stripeSize == self.end`,
    message: 'a Data-on-MDT component (mdt: true) has stripeSize equal to its end, or no stripeSize',
    fieldPath: '.stripeSize',
  },
  {
    rule: `!(${isDom}) || (!has(self.pool) && !has(self.overstriped) && !has(self.extensionSize) && (!has(self.stripeCount) || self.stripeCount == 1))`,
    message:
      'a Data-on-MDT component (mdt: true) takes no pool, overstriped, extensionSize or stripeCount other than 1',
  },
  {
    rule: '!has(self.extensionSize) || !has(self.stripeSize) || self.extensionSize % self.stripeSize == 0',
    message: 'extensionSize must be a multiple of stripeSize',
    fieldPath: '.extensionSize',
  },
];

export const LayoutComponentSpec = Type.Object(
  {
    start: Type.Optional(
      Type.Integer({
        minimum: 0,
        description:
          "Extent start, bytes. Optional: it is always the previous component's end (0 for the first); " +
          'when given it must say so.',
      }),
    ),
    end: Type.Integer({
      minimum: EOF,
      description: 'Extent end, bytes (lfs setstripe -E), or -1 for EOF. The last component ends at EOF.',
    }),
    mdt: Type.Optional(
      Type.Boolean({
        description: 'Data-on-MDT (-L mdt): keep this extent on the MDT. First component only.',
      }),
    ),
    stripeCount: Type.Optional(
      Type.Integer({
        minimum: -1,
        maximum: STRIPE_COUNT_MAX,
        description: 'OSTs to stripe over (-c); -1 for every OST of the pool. Omit for the default.',
        ...celRules({
          rule: 'self != 0',
          message: 'stripeCount must be -1 (all OSTs) or at least 1; omit it for the default',
        }),
      }),
    ),
    stripeSize: Type.Optional(
      Type.Integer({
        maximum: STRIPE_SIZE_LIMIT - UNIT,
        description: 'Bytes per stripe (-S): a multiple of 64 KiB below 4 GiB. Omit for the default.',
        ...celRules({
          rule: `self > 0 && self % ${UNIT} == 0`,
          message: `stripeSize must be a positive multiple of 64 KiB (${UNIT} bytes)`,
        }),
      }),
    ),
    pool: Type.Optional(
      Type.String({
        maxLength: 15,
        description: 'The OSTPool to allocate from (-p).',
        ...celRules({
          rule: "self.matches('^[A-Za-z0-9_-]+$')",
          message: "pool names an OSTPool: at most 15 letters, digits, '-' or '_'",
        }),
      }),
    ),
    overstriped: Type.Optional(
      Type.Boolean({
        description: 'Overstriping (-C): stripeCount may exceed the OSTs, several stripes per OST.',
      }),
    ),
    extensionSize: Type.Optional(
      Type.Integer({
        maximum: STRIPE_SIZE_LIMIT - UNIT,
        description: 'Self-extending layout (-z): grow the component by this many bytes at a time.',
        ...celRules({
          rule: `self > 0 && self % ${UNIT} == 0`,
          message: `extensionSize must be a positive multiple of 64 KiB (${UNIT} bytes)`,
        }),
      }),
    ),
  },
  celRules(...componentRules),
);

/** Rules across components: they need indexes, so they use CEL's two-variable `all(i, c, ...)` (1.32+). */
const listRules: CelRule[] = [
  {
    rule: 'self.all(i, c, i == 0 || !(has(c.mdt) && c.mdt))',
    message: 'only the first component can be Data-on-MDT (mdt: true)',
  },
  {
    rule: 'self.all(i, c, !has(c.start) || c.start == (i == 0 ? 0 : self[i - 1].end))',
    message: 'extents are not contiguous: each component starts where the previous one ends (the first at 0)',
  },
  {
    rule: `self.all(i, c, i == 0 || c.end == ${EOF} || self[i - 1].end == ${EOF} || c.end > self[i - 1].end)`,
    message: 'extents are not contiguous: each component must end after the previous one',
  },
  {
    rule: `self.all(i, c, i == self.size() - 1 || c.end != ${EOF})`,
    message: 'only the last component can end at EOF (end: -1)',
  },
  {
    rule: `self.size() == 0 || self[self.size() - 1].end == ${EOF}`,
    message: 'the last component must end at EOF (end: -1), so that every file offset has a component',
  },
];

export const LayoutComponents = Type.Array(LayoutComponentSpec, {
  minItems: 1,
  maxItems: COMPONENT_COUNT_MAX,
  description: 'The layout components in file order, as `lfs setstripe -E END ... -E -1 ...`.',
  ...celRules(...listRules),
});

export type LayoutComponentSpec = Static<typeof LayoutComponentSpec>;
