import { isKlError, KlError } from '../errors.ts';
import { overlapping } from './math.ts';
import {
  COMPONENT_COUNT_MAX,
  DEFAULT_STRIPE_COUNT,
  DEFAULT_STRIPE_SIZE,
  EOF_EXTENT,
  type Layout,
  type LayoutComponent,
  type OstObject,
} from './types.ts';

/** What the MDT's layout decisions need from the world: object creation and OST free space. */
export interface InstantiateDeps {
  /**
   * Creates the objects of `component` on OSTs chosen by `allocateStripes`, none in `avoid` and none
   * with `minFreeBytes` or less free. Throws KlError ENOSPC when no OST fits.
   */
  allocate(component: LayoutComponent, opts: { avoid: readonly number[]; minFreeBytes: number }): OstObject[];
  /** An OST's free bytes now; 0 for an inactive OST. */
  ostFreeBytes(ostIdx: number): number;
}

/** A write's byte range [start, end). */
export interface WriteRange {
  start: number;
  end: number;
}

export interface InstantiateResult {
  layout: Layout;
  /** Ids of the components this created, instantiated, extended or moved. Empty: nothing changed. */
  changed: number[];
}

/** The filesystem-wide defaults (lov.stripecount, lov.stripesize, lov.stripeoffset). */
export interface LovDefaults {
  stripeCount: number;
  stripeSize: number;
  stripeOffset: number;
}

export const LOV_DEFAULTS: LovDefaults = {
  stripeCount: DEFAULT_STRIPE_COUNT,
  stripeSize: DEFAULT_STRIPE_SIZE,
  stripeOffset: -1,
};

// Each step removes or shrinks an extension component, so a write needs at most two per component.
const SEL_STEPS_MAX = 2 * COMPONENT_COUNT_MAX;

/**
 * The MDT's answer to a write layout intent (PFL lazy instantiation): instantiates every component
 * the write overlaps, first running the self-extending layout policy on any extension space it reaches.
 * Lustre bumps the layout generation once per intent that changes the layout, plus once per component id
 * it hands out; so do we.
 */
export function instantiateComponents(
  layout: Layout,
  range: WriteRange,
  deps: InstantiateDeps,
): InstantiateResult {
  if (
    !Number.isSafeInteger(range.start) ||
    !Number.isSafeInteger(range.end) ||
    range.start < 0 ||
    range.end <= range.start
  ) {
    throw new KlError('EINVAL', `bad write range [${range.start}, ${range.end})`);
  }
  const work: Work = {
    components: structuredClone(layout.components),
    generation: layout.generation,
    changed: new Set(),
  };
  for (let step = 0; ; step++) {
    const extension = work.components.findIndex((c) => c.extension && overlaps(c, range));
    if (extension === -1) break;
    if (step === SEL_STEPS_MAX) throw new KlError('EIO', 'self-extending layout did not settle');
    selStep(work, extension, range.end, deps);
  }
  for (const c of overlapping(
    { ...layout, components: work.components },
    range.start,
    range.end - range.start,
  )) {
    if (c.objects === undefined) instantiate(work, c, deps);
  }
  const changed = [...work.changed];
  const generation = changed.length > 0 ? work.generation + 1 : work.generation;
  return { layout: { ...layout, generation, components: work.components }, changed };
}

/**
 * A new file's layout: component ids assigned and the first component instantiated (an extendable first
 * component already grown by its extension size), as Lustre creates it. Creation is one layout version:
 * the generation is the one id assignment left.
 */
export function createFileLayout(template: Layout, deps: InstantiateDeps): Layout {
  const withIds = assignComponentIds(template);
  const { layout } = instantiateComponents(withIds, { start: 0, end: 1 }, deps);
  return { ...layout, generation: withIds.generation };
}

/**
 * Gives every component with id 0 a unique id. Lustre's lod_gen_component_id takes the layout generation
 * and bumps it, so a new 3-component file has ids 1, 2, 3 and lcm_layout_gen 3. A plain layout has no
 * component ids in Lustre and starts at lmm_layout_gen 0: ours gets id 1 and keeps its generation.
 */
export function assignComponentIds(layout: Layout): Layout {
  if (!layout.composite) {
    return { ...layout, components: layout.components.map((c) => ({ ...c, id: c.id || 1 })) };
  }
  const used = new Set(layout.components.map((c) => c.id));
  let generation = layout.generation;
  const components = layout.components.map((c) => {
    if (c.id !== 0) return c;
    do generation++;
    while (used.has(generation));
    used.add(generation);
    return { ...c, id: generation };
  });
  return { ...layout, generation, components };
}

interface Work {
  components: LayoutComponent[];
  generation: number;
  changed: Set<number>;
}

function overlaps(c: LayoutComponent, range: WriteRange): boolean {
  return c.start < range.end && (c.end === EOF_EXTENT || c.end > range.start) && c.end !== c.start;
}

function instantiate(work: Work, c: LayoutComponent, deps: InstantiateDeps): void {
  c.objects = c.pattern === 'mdt' ? [] : deps.allocate(c, { avoid: [], minFreeBytes: 0 });
  work.changed.add(c.id);
}

/**
 * One decision of Lustre's default SEL policy (Operations Manual, "Self-Extending Layout") for a write
 * ending at `writeEnd` that reaches extension component `k`:
 * 1. extension: the extendable component's OSTs all have space, so it grows over the write;
 * 2. spill over: they do not and more components follow, so the next one takes the extension space;
 * 3. repeating: they do not and this is the last extension space, so a copy of the extendable component
 *    on OSTs with space covers the write;
 * 4. forced extension: repeating found no such OSTs, so the extendable component grows anyway.
 * "Has space" means each OST can take its share of the granted bytes (our reading of
 * lod_sel_osts_allowed; Lustre also holds back a reserve we do not model).
 */
function selStep(work: Work, k: number, writeEnd: number, deps: InstantiateDeps): void {
  const extendable = work.components[k - 1]!;
  const extension = work.components[k]!;
  const grantEnd = grantedEnd(extension, writeEnd);
  if (extendable.objects === undefined)
    instantiateExtendable(work, extendable, grantEnd - extension.start, deps);
  const share = Math.ceil((grantEnd - extension.start) / extendable.objects!.length);
  const low = extendable.objects!.map((o) => o.ostIdx).filter((ost) => deps.ostFreeBytes(ost) < share);
  if (low.length === 0) extend(work, k, grantEnd);
  else if (extension.end !== EOF_EXTENT) spillOver(work, k);
  else if (work.components.length >= COMPONENT_COUNT_MAX || !repeat(work, k, grantEnd, low, deps)) {
    extend(work, k, grantEnd);
  }
}

/** Instantiates on OSTs that can take the grant if there are any, else on any OSTs (forced extension). */
function instantiateExtendable(work: Work, c: LayoutComponent, granted: number, deps: InstantiateDeps): void {
  const minFreeBytes = Math.ceil(granted / Math.max(1, c.stripeCount));
  try {
    c.objects = deps.allocate(c, { avoid: [], minFreeBytes });
  } catch (e) {
    if (!isKlError(e, 'ENOSPC')) throw e;
    c.objects = deps.allocate(c, { avoid: [], minFreeBytes: 0 });
  }
  work.changed.add(c.id);
}

/** The end the extendable component grows to: whole extension sizes from the extension's start. */
function grantedEnd(extension: LayoutComponent, writeEnd: number): number {
  const size = extension.extensionSize!;
  const end = extension.start + Math.ceil((writeEnd - extension.start) / size) * size;
  return extension.end === EOF_EXTENT ? end : Math.min(end, extension.end);
}

function extend(work: Work, k: number, newEnd: number): void {
  const extendable = work.components[k - 1]!;
  const extension = work.components[k]!;
  extendable.end = newEnd;
  extension.start = newEnd;
  work.changed.add(extendable.id);
  if (extension.end !== EOF_EXTENT && extension.start >= extension.end) work.components.splice(k, 1);
}

/** Removes extension space `k`; the components after it move back to where it started. */
function spillOver(work: Work, k: number): void {
  const [extension] = work.components.splice(k, 1);
  const from = extension!.start;
  const to = extension!.end;
  for (const c of work.components.slice(k)) {
    if (c.start !== to) break;
    c.start = from;
    if (c.end === to) c.end = from;
    work.changed.add(c.id);
    if (c.end !== from) break;
  }
}

/** Inserts a copy of the extendable component before extension `k`, on OSTs with space; false if none. */
function repeat(work: Work, k: number, grantEnd: number, low: number[], deps: InstantiateDeps): boolean {
  const extendable = work.components[k - 1]!;
  const extension = work.components[k]!;
  const id = ++work.generation;
  const copy: LayoutComponent = {
    ...extendable,
    id,
    start: extension.start,
    end: grantEnd,
    stripeOffset: -1,
  };
  delete copy.objects;
  try {
    const share = Math.ceil((grantEnd - extension.start) / extendable.objects!.length);
    copy.objects = deps.allocate(copy, { avoid: low, minFreeBytes: share });
  } catch (e) {
    if (isKlError(e, 'ENOSPC')) return false;
    throw e;
  }
  work.components.splice(k, 0, copy);
  extension.start = grantEnd;
  work.changed.add(id);
  return true;
}

/**
 * The layout template a new file gets: its directory's default layout, else the filesystem default (the
 * root directory's default), else a plain layout of the lov defaults. Unset fields (stripe count 0,
 * stripe size 0) take the lov defaults, as LOD does when it creates the file; a stripe offset of -1 stays
 * -1 unless lov.stripeoffset names an OST.
 */
export function inheritLayout(
  dirDefault: Layout | undefined,
  rootDefault: Layout | undefined,
  lov: LovDefaults = LOV_DEFAULTS,
): Layout {
  const template = dirDefault ?? rootDefault ?? plainLayout(lov);
  const components = template.components.map((c) => {
    const { objects: _objects, ...rest } = c;
    if (c.extension || c.pattern === 'mdt') return { ...rest, id: 0 };
    return {
      ...rest,
      id: 0,
      stripeCount: c.stripeCount === 0 ? lov.stripeCount : c.stripeCount,
      stripeSize: c.stripeSize === 0 ? lov.stripeSize : c.stripeSize,
      stripeOffset: c.stripeOffset === -1 ? lov.stripeOffset : c.stripeOffset,
    };
  });
  return { composite: template.composite, generation: 0, components };
}

/**
 * The default layout a new subdirectory starts with. A non-root directory's default is copied into the
 * subdirectory; the root's is not copied, subdirectories follow it at run time (lfs-setstripe(1)).
 */
export function subdirectoryDefault(
  parentDefault: Layout | undefined,
  parentIsRoot: boolean,
): Layout | undefined {
  return parentIsRoot || parentDefault === undefined ? undefined : structuredClone(parentDefault);
}

function plainLayout(lov: LovDefaults): Layout {
  const component: LayoutComponent = {
    id: 0,
    start: 0,
    end: EOF_EXTENT,
    pattern: 'raid0',
    stripeSize: lov.stripeSize,
    stripeCount: lov.stripeCount,
    stripeOffset: lov.stripeOffset,
  };
  return { composite: false, generation: 0, components: [component] };
}
