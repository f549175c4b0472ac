import { KlError } from '../errors.ts';
import {
  COMPONENT_COUNT_MAX,
  EOF_EXTENT,
  type Layout,
  type LayoutComponent,
  STRIPE_COUNT_MAX,
  STRIPE_SIZE_LIMIT,
  STRIPE_SIZE_UNIT,
} from './types.ts';

/** What the filesystem offers, for checks a layout alone cannot answer. */
export interface ValidateContext {
  /** OSTs in the filesystem; valid OST indexes are 0..ostCount-1. */
  ostCount: number;
  /** OST pools by name: the OST indexes in each. */
  pools?: Record<string, number[]>;
  /** The MDT's dom_stripesize: the largest DoM component it accepts (0 disables DoM). */
  domSizeMax: number;
}

interface Mode {
  /** A stored file layout (ids assigned, defaults resolved) rather than a setstripe template. */
  file: boolean;
  ctx: Partial<ValidateContext>;
}

/**
 * Checks a file's layout as the MDT stores it: every default resolved (no stripe count or size 0),
 * objects only on instantiated components. Throws KlError EINVAL naming the first problem.
 *
 * A stripe count above the OSTs available is not an error: Lustre silently caps it when it allocates
 * (see `allocateStripes`), so we do too.
 */
export function validateLayout(layout: Layout, ctx: ValidateContext): void {
  checkLayout(layout, { file: true, ctx: { ...ctx, pools: ctx.pools ?? {} } });
}

/**
 * Checks a layout template: `lfs setstripe` input or a directory default. Stripe count 0, stripe size 0
 * and stripe offset -1 mean "use the default"; pools and OST indexes are checked only when `ctx` says
 * what exists.
 */
export function validateTemplate(layout: Layout, ctx: Partial<ValidateContext> = {}): void {
  checkLayout(layout, { file: false, ctx });
  if (layout.components.some((c) => c.objects !== undefined)) fail('a layout template has no objects');
}

function checkLayout(layout: Layout, mode: Mode): void {
  const { components } = layout;
  if (components.length === 0) fail('a layout needs at least one component');
  if (components.length > COMPONENT_COUNT_MAX) {
    fail(`a layout has at most ${COMPONENT_COUNT_MAX} components, not ${components.length}`);
  }
  if (!layout.composite && components.length !== 1) fail('a plain layout has exactly one component');
  if (mode.file) checkIds(components);
  components.forEach((c, i) => {
    checkExtent(components, i);
    if (c.extension) checkExtension(components, i);
    else if (c.pattern === 'mdt') checkDom(components, i, mode);
    else checkRaid0(c, i, mode);
    checkPool(c, mode.ctx);
  });
  // Deliberate difference: Lustre accepts a layout that stops short of EOF (writes past it fail with
  // EFBIG). We require EOF so that every file offset maps to a component.
  if (components.at(-1)!.end !== EOF_EXTENT) fail('last component must end at EOF');
}

function checkIds(components: LayoutComponent[]): void {
  const ids = new Set(components.map((c) => c.id));
  if (ids.has(0) || ids.size !== components.length) fail('component ids must be unique and nonzero');
}

function checkExtent(components: LayoutComponent[], i: number): void {
  const c = components[i]!;
  const prev = components[i - 1];
  const name = `component ${i + 1}`;
  if (prev === undefined && c.start !== 0) fail(`first component must start at 0, not ${c.start}`);
  if (prev?.end === EOF_EXTENT) fail(`component ${i} ends at EOF but is followed by ${name}`);
  if (prev !== undefined && c.start !== prev.end) {
    fail(`extents are not contiguous: ${name} starts at ${c.start} but component ${i} ends at ${prev.end}`);
  }
  if (c.end === EOF_EXTENT) return;
  if (c.end < c.start) fail(`${name} ends at ${c.end}, before its start ${c.start}`);
  if (c.end % STRIPE_SIZE_UNIT !== 0) fail(`${name} end ${c.end} is not a multiple of ${STRIPE_SIZE_UNIT}`);
  if (c.end === c.start && !components[i + 1]?.extension) {
    fail(`${name} has zero length but is not followed by extension space`);
  }
}

function checkRaid0(c: LayoutComponent, i: number, mode: Mode): void {
  const name = `component ${i + 1}`;
  checkStripeSize(c.stripeSize, mode.file);
  if (c.end !== EOF_EXTENT && c.end !== c.start && c.stripeSize > 0 && c.end % c.stripeSize !== 0) {
    fail(`${name} end ${c.end} is not aligned to its stripe size ${c.stripeSize}`);
  }
  if (c.stripeCount < -1 || c.stripeCount > STRIPE_COUNT_MAX) {
    fail(`stripe count ${c.stripeCount} is out of range -1..${STRIPE_COUNT_MAX}`);
  }
  if (mode.file && c.stripeCount === 0) fail(`${name} has stripe count 0: the default was not resolved`);
  checkStripeOffset(c, mode.ctx);
  if (c.objects !== undefined) checkObjects(c, name, mode.ctx);
  if (c.extensionSize !== undefined) fail(`${name} has an extension size but is not extension space`);
}

function checkStripeSize(stripeSize: number, file: boolean): void {
  if (stripeSize % STRIPE_SIZE_UNIT !== 0) {
    fail(`stripe size ${stripeSize} is not a multiple of ${STRIPE_SIZE_UNIT}`);
  }
  if (stripeSize >= STRIPE_SIZE_LIMIT) fail(`stripe size ${stripeSize} is not below 4 GiB`);
  if (file && stripeSize === 0) fail('stripe size 0: the default was not resolved');
}

function checkStripeOffset(c: LayoutComponent, ctx: Partial<ValidateContext>): void {
  const offset = c.stripeOffset;
  if (offset === -1) return;
  if (ctx.ostCount !== undefined && offset >= ctx.ostCount) {
    fail(`stripe offset ${offset} is not an OST index: the filesystem has ${ctx.ostCount} OSTs`);
  }
  const members = c.pool === undefined ? undefined : ctx.pools?.[c.pool];
  if (members !== undefined && !members.includes(offset)) {
    fail(`stripe offset ${offset} is not in pool '${c.pool}'`);
  }
}

function checkObjects(c: LayoutComponent, name: string, ctx: Partial<ValidateContext>): void {
  const osts = c.objects!.map((o) => o.ostIdx);
  if (osts.length === 0) fail(`${name} is instantiated without objects`);
  if (c.stripeCount > 0 && osts.length > c.stripeCount) {
    fail(`${name} has ${osts.length} objects for stripe count ${c.stripeCount}`);
  }
  const duplicate = osts.find((ost, k) => osts.indexOf(ost) !== k);
  if (duplicate !== undefined && !c.overstriped) {
    fail(`${name} has two stripes on OST ${duplicate} but is not overstriped`);
  }
  const outside = osts.find((ost) => ctx.ostCount !== undefined && ost >= ctx.ostCount);
  if (outside !== undefined) fail(`${name} has an object on OST ${outside}, which does not exist`);
}

function checkDom(components: LayoutComponent[], i: number, mode: Mode): void {
  const c = components[i]!;
  if (i !== 0) fail('DoM component must be the first');
  if (components[i + 1]?.extension) fail('DoM components cannot be followed by extension space');
  if (c.end === EOF_EXTENT) fail('DoM component must end before EOF: its end is its size');
  if (c.stripeSize !== c.end) fail(`DoM component stripe size ${c.stripeSize} must equal its size ${c.end}`);
  const max = mode.ctx.domSizeMax;
  if (max !== undefined && c.end > max) {
    fail(`DoM component size ${c.end} is bigger than MDT limit ${max}, check dom_stripesize parameter`);
  }
  if (c.stripeCount !== 0 && c.stripeCount !== 1) {
    fail(`Option 'stripe-count' can't be specified with Data-on-MDT component: ${c.stripeCount}`);
  }
  if (c.pool !== undefined) fail(`Option 'pool' can't be specified with Data-on-MDT component: '${c.pool}'`);
  if (c.objects !== undefined && c.objects.length > 0) fail('DoM component has no OST objects');
}

/** Self-extending layouts: the rules of llapi_layout_sanity for LCME_FL_EXTENSION components. */
function checkExtension(components: LayoutComponent[], i: number): void {
  const c = components[i]!;
  const name = `component ${i + 1}`;
  const extendable = components[i - 1];
  if (extendable === undefined) fail('extension space cannot be the first component');
  if (c.pattern === 'mdt') fail("DoM components can't be extension space");
  if (components[i + 1]?.extension) fail(`${name} and component ${i + 2} are both extension space`);
  if (c.objects !== undefined) fail(`${name} is extension space and cannot be instantiated`);
  const size = c.extensionSize ?? 0;
  if (size <= 0) fail(`${name} is extension space without an extension size`);
  if (size % STRIPE_SIZE_UNIT !== 0) fail(`extension size ${size} is not a multiple of ${STRIPE_SIZE_UNIT}`);
  const stripeSize = extendable.stripeSize;
  if (stripeSize > 0 && size % stripeSize !== 0) {
    fail(`extension size ${size} is not aligned to the stripe size ${stripeSize} of component ${i}`);
  }
  if (stripeSize > 0 && c.end !== EOF_EXTENT && c.end % stripeSize !== 0) {
    fail(`${name} end ${c.end} is not aligned to the stripe size ${stripeSize} of component ${i}`);
  }
  // The first component is instantiated (and so grown) when the file is created.
  if (i - 1 > 0 && extendable.objects === undefined && extendable.end !== extendable.start) {
    fail(`component ${i} is followed by extension space, so it must start out zero-length`);
  }
}

function checkPool(c: LayoutComponent, ctx: Partial<ValidateContext>): void {
  if (c.pool === undefined || ctx.pools === undefined) return;
  const members = ctx.pools[c.pool];
  if (members === undefined) fail(`pool '${c.pool}' does not exist`);
  if (members.length === 0) fail(`pool '${c.pool}' has no OSTs`);
}

function fail(reason: string): never {
  throw new KlError('EINVAL', reason);
}
