import { isDeepStrictEqual } from 'node:util';
import { KlError } from '@kubelustre/protocol/errors.ts';
import type { Layout, LayoutComponent } from '@kubelustre/protocol/layout/types.ts';
import { validateTemplate } from '@kubelustre/protocol/layout/validate.ts';
import type { LayoutComponentSpec } from '../crds/layout-components.ts';

/**
 * A layout as a user writes it (components of `lfs setstripe -E ...`) → the layout template the MGS
 * stores. An omitted stripe size or count is 0, "the filesystem's default", as in a Lustre template; an
 * extensionSize becomes Lustre's pair of an extendable component and its extension space (lfs -z).
 */
export function layoutTemplate(components: readonly LayoutComponentSpec[]): Layout {
  const out: LayoutComponent[] = [];
  for (const c of components) {
    const start = out.at(-1)?.end ?? 0;
    if (c.mdt) {
      out.push({
        id: 0,
        start,
        end: c.end,
        pattern: 'mdt',
        stripeSize: c.end,
        stripeCount: 0,
        stripeOffset: -1,
      });
      continue;
    }
    const raid0: LayoutComponent = {
      id: 0,
      start,
      end: c.extensionSize === undefined ? c.end : start,
      pattern: 'raid0',
      stripeSize: c.stripeSize ?? 0,
      stripeCount: c.stripeCount ?? 0,
      stripeOffset: -1,
      ...(c.overstriped && { overstriped: true }),
      ...(c.pool !== undefined && { pool: c.pool }),
    };
    out.push(raid0);
    if (c.extensionSize !== undefined) {
      out.push({
        ...{ id: 0, start, end: c.end, pattern: 'raid0', stripeSize: 0, stripeCount: 0, stripeOffset: -1 },
        extension: true,
        extensionSize: c.extensionSize,
      });
    }
  }
  return { composite: true, generation: 0, components: out };
}

/** The pools a layout allocates from. */
export function poolsOf(components: readonly LayoutComponentSpec[]): string[] {
  return [...new Set(components.flatMap((c) => (c.pool === undefined ? [] : [c.pool])))];
}

/**
 * Why the MGS would refuse `layout` for a filesystem with `ostCount` OSTs and these pools, or undefined.
 * Same check as the MGS's (protocol's validateTemplate), so a bad layout is reported before it is sent.
 */
export function layoutProblem(
  layout: Layout,
  ostCount: number,
  pools: Record<string, number[]>,
): string | undefined {
  try {
    validateTemplate(layout, { ostCount, pools });
    return undefined;
  } catch (e) {
    if (e instanceof KlError) return e.reason;
    throw e;
  }
}

/** Layouts compare by their components: the MGS may stamp a generation of its own. */
export function sameLayout(a: Layout, b: Layout): boolean {
  return a.composite === b.composite && isDeepStrictEqual(a.components, b.components);
}
