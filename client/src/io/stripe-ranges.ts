import { overlapping, stripeCountOf } from '@kubelustre/protocol/layout/math.ts';
import {
  EOF_EXTENT,
  type Layout,
  type LayoutComponent,
  type OstObject,
} from '@kubelustre/protocol/layout/types.ts';

/*
 * Striping math by object rather than by byte: which contiguous range of each stripe object a file range
 * covers. For stripe i of a component with stripe size S and C stripes (W = S·C), file offset x lies in
 * stripe i when ⌊(x mod W)/S⌋ = i, at object offset ⌊x/W⌋·S + x mod S. The map is monotonic within a
 * stripe, so the bytes of stripe i inside any file range [a, b) are one contiguous object range:
 * [objectOffsetFrom(i, a), objectOffsetFrom(i, b)). One RPC per object then covers any file range
 * (fallocate), and one answer per object covers a whole component (SEEK_DATA / SEEK_HOLE).
 */

/** The first object offset of stripe `stripe` holding a file byte at or after `fileOffset`. */
export function objectOffsetFrom(c: LayoutComponent, stripe: number, fileOffset: number): number {
  const size = c.stripeSize;
  const width = size * stripeCountOf(c);
  const row = Math.floor(fileOffset / width);
  const into = Math.min(Math.max(fileOffset - row * width - stripe * size, 0), size);
  return row * size + into;
}

/** The file offset of byte `objOffset` of stripe `stripe` (the inverse of Lustre's lov_stripe_offset). */
export function fileOffsetOf(c: LayoutComponent, stripe: number, objOffset: number): number {
  const size = c.stripeSize;
  const width = size * stripeCountOf(c);
  return Math.floor(objOffset / size) * width + stripe * size + (objOffset % size);
}

/** One stripe object's share of a file range: a contiguous range of the object. */
export interface ObjectRange {
  component: LayoutComponent;
  object: OstObject;
  objOffset: number;
  length: number;
}

/**
 * The range of every OST object that [offset, offset + length) covers, for the instantiated raid0
 * components it overlaps (uninstantiated components and DoM are the caller's to handle).
 */
export function objectRanges(layout: Layout, offset: number, length: number): ObjectRange[] {
  const ranges: ObjectRange[] = [];
  for (const c of overlapping(layout, offset, length)) {
    if (c.pattern !== 'raid0' || c.objects === undefined) continue;
    const from = Math.max(offset, c.start);
    const to = c.end === EOF_EXTENT ? offset + length : Math.min(offset + length, c.end);
    c.objects.forEach((object, stripe) => {
      const objOffset = objectOffsetFrom(c, stripe, from);
      const objLength = objectOffsetFrom(c, stripe, to) - objOffset;
      if (objLength > 0) ranges.push({ component: c, object, objOffset, length: objLength });
    });
  }
  return ranges;
}
