import { isKlError, KlError } from '@kubelustre/protocol/errors.ts';
import {
  allocateStripes,
  assignComponentIds,
  GIB,
  type InstantiateDeps,
  inheritLayout,
  instantiateComponents,
  type Layout,
  type LayoutComponent,
  type OstObject,
  type RoundRobinState,
  type ValidateContext,
  validateLayout,
  validateTemplate,
} from '@kubelustre/protocol/layout/index.ts';
import type { OstProxy } from './ost-proxy.ts';

/** Our dom_stripesize default: the largest DoM component accepted (Lustre defaults to 1 MiB; lfs caps at 1 GiB). */
export const DOM_SIZE_MAX_DEFAULT = GIB;

/**
 * Thrown inside a transaction when the chosen OSTs have too few precreated ids: the caller rolls back,
 * waits for the pools (outside the transaction) and tries again.
 */
export class PoolShortage extends Error {
  readonly needed: Map<number, number>;
  constructor(needed: Map<number, number>) {
    super(`waiting for precreated objects on OSTs ${[...needed.keys()].join(', ')}`);
    this.needed = needed;
  }
}

/**
 * Lustre's LOD for one MDT: decides new files' layouts (request, else the directory default, else the
 * filesystem default), validates them, and instantiates components by allocating OSTs and taking
 * precreated object ids from the OST proxies.
 */
export class LayoutPolicy {
  readonly #osp: OstProxy;
  readonly #domSizeMax: number;
  readonly #rr: RoundRobinState = { next: 0 };

  constructor(osp: OstProxy, domSizeMax = DOM_SIZE_MAX_DEFAULT) {
    this.#osp = osp;
    this.#domSizeMax = domSizeMax;
  }

  validateContext(): ValidateContext {
    const config = this.#osp.config;
    const ostIndexes = (config?.targets ?? []).filter((t) => t.role === 'ost').map((t) => t.index);
    return {
      ostCount: ostIndexes.length === 0 ? 0 : Math.max(...ostIndexes) + 1,
      pools: config?.pools ?? {},
      domSizeMax: this.#domSizeMax,
    };
  }

  /** The filesystem default: the root's own default if one was set on it, else the MGS's. */
  rootDefault(rootDirLayout: Layout | undefined): Layout | undefined {
    return rootDirLayout ?? this.#osp.config?.defaultLayout;
  }

  /**
   * A new regular file's layout: `requested` (lfs setstripe / create with a layout), else the directory's
   * default, else the filesystem's, with unset fields resolved and component ids assigned. As in Lustre,
   * the components covering offset 0 are instantiated at create (ids come from the precreated pools, so
   * this costs no OST round trip, and the first write needs no layout intent); later PFL components wait
   * for a write to reach them. EINVAL with the layout engine's reason; PoolShortage as `instantiate`.
   */
  forNewFile(
    requested: Layout | undefined,
    dirDefault: Layout | undefined,
    rootDefault: Layout | undefined,
  ): Layout {
    if (requested !== undefined) validateTemplate(requested, this.validateContext());
    const template = inheritLayout(requested ?? dirDefault, rootDefault);
    const layout = assignComponentIds(template);
    validateLayout(layout, this.validateContext());
    return this.#instantiateFirst(layout);
  }

  /** A replacement layout for an empty file whose layout is `old` (set_layout): a newer generation. */
  replacement(requested: Layout, old: Layout, rootDefault: Layout | undefined): Layout {
    validateTemplate(requested, this.validateContext());
    const template = inheritLayout(requested, rootDefault);
    const layout = assignComponentIds({ ...template, generation: old.generation + 1 });
    validateLayout(layout, this.validateContext());
    return this.#instantiateFirst(layout);
  }

  /** A directory default as set_layout stores it: checked as a template, its generation past the old one. */
  directoryDefault(requested: Layout, old: Layout | undefined): Layout {
    validateTemplate(requested, this.validateContext());
    return { ...requested, generation: (old?.generation ?? 0) + 1 };
  }

  /**
   * Instantiates the components a write to [start, end) needs (PFL and self-extending layouts). Returns
   * the layout unchanged when nothing needed doing. Throws PoolShortage when ids must be waited for.
   */
  instantiate(layout: Layout, start: number, end: number): { layout: Layout; changed: boolean } {
    const result = instantiateComponents(layout, { start, end }, this.#deps());
    if (result.changed.length === 0) return { layout, changed: false };
    validateLayout(result.layout, this.validateContext());
    return { layout: result.layout, changed: true };
  }

  #instantiateFirst(layout: Layout): Layout {
    try {
      const first = this.instantiate(layout, 0, 1).layout;
      return { ...first, generation: layout.generation };
    } catch (e) {
      // No OST can take objects now (none registered yet, or all full): the file gets its objects on its
      // first write, or that write fails with ENOSPC.
      if (isKlError(e, 'ENOSPC')) return layout;
      throw e;
    }
  }

  #deps(): InstantiateDeps {
    return {
      allocate: (component, opts) => this.#allocate(component, opts),
      ostFreeBytes: (ostIdx) => this.#osp.freeBytes(ostIdx),
    };
  }

  #allocate(c: LayoutComponent, opts: { avoid: readonly number[]; minFreeBytes: number }): OstObject[] {
    const osts = allocateStripes(
      {
        stripeCount: c.stripeCount,
        stripeOffset: c.stripeOffset,
        pool: c.pool,
        overstriped: c.overstriped,
        minFreeBytes: opts.minFreeBytes,
        avoid: opts.avoid,
      },
      this.#osp.spaces(),
      this.#osp.config?.pools ?? {},
      this.#rr,
      Math.random,
    );
    const needed = new Map<number, number>();
    for (const ost of osts) needed.set(ost, (needed.get(ost) ?? 0) + 1);
    if ([...needed].some(([ost, n]) => this.#osp.available(ost) < n)) throw new PoolShortage(needed);
    return osts.map((ostIdx) => ({ ostIdx, objId: this.#osp.take(ostIdx) }));
  }
}

/** Every OST object a layout refers to (for the destroy log). */
export function layoutObjects(layout: Layout | undefined): OstObject[] {
  return (layout?.components ?? []).flatMap((c) => (c.pattern === 'raid0' ? (c.objects ?? []) : []));
}

/** True when some raid0 component has objects: the file's layout can no longer be replaced. */
export function hasObjects(layout: Layout | undefined): boolean {
  return layoutObjects(layout).length > 0;
}

export function notRegularLayoutError(fid: string): KlError {
  return new KlError('EINVAL', `${fid} is not a regular file or directory: it has no layout`);
}
