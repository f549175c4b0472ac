import { KlError } from '../errors.ts';
import { EOF_EXTENT, type Layout, type LayoutComponent, type OstObject } from './types.ts';

/**
 * Where one piece of file data lives. `kind` says how to reach it: `ost` through `object`, `mdt` on the
 * MDT (Data-on-MDT, at `objOffset` of the file's DoM data), `hole` in a component not instantiated yet
 * (reads see zeros; a write must first ask the MDT to instantiate it, see `componentsFor`).
 */
export interface IoExtent {
  kind: 'ost' | 'mdt' | 'hole';
  component: LayoutComponent;
  /** Stripe number within the component; -1 for a hole. */
  stripeIndex: number;
  object: OstObject | undefined;
  /** Offset inside the OST object (or the DoM data); -1 for a hole. */
  objOffset: number;
  fileOffset: number;
  length: number;
}

/** Where one file offset lands inside an instantiated component. */
export interface StripeLocation {
  stripeIndex: number;
  objOffset: number;
}

/** The number of stripes data is spread over: the objects of an instantiated raid0 component, 1 for DoM. */
export function stripeCountOf(c: LayoutComponent): number {
  if (c.pattern === 'mdt') return 1;
  if (c.objects === undefined || c.objects.length === 0) {
    throw new KlError('EINVAL', `component ${c.id} [${c.start}, ${endText(c)}) is not instantiated`);
  }
  return c.objects.length;
}

/**
 * Lustre's lov_stripe_number and lov_stripe_offset. Offsets are absolute file offsets, not offsets
 * within the component, so an object's first bytes are unused when its component starts past 0.
 */
export function locate(c: LayoutComponent, fileOffset: number): StripeLocation {
  const size = c.stripeSize;
  const width = size * stripeCountOf(c);
  return {
    stripeIndex: Math.floor((fileOffset % width) / size),
    objOffset: Math.floor(fileOffset / width) * size + (fileOffset % size),
  };
}

/** The components [offset, offset + length) touches, in file order (zero-length ones never). */
export function overlapping(layout: Layout, offset: number, length: number): LayoutComponent[] {
  const end = offset + length;
  return layout.components.filter(
    (c) => length > 0 && c.start < end && (c.end === EOF_EXTENT || c.end > offset) && c.end !== c.start,
  );
}

/**
 * The components an I/O to [offset, offset + length) needs and that are not instantiated: PFL
 * components still to be instantiated and SEL extension space. A write that finds any must send the
 * MDT a layout intent first (see `instantiateComponents`).
 */
export function componentsFor(layout: Layout, offset: number, length: number): LayoutComponent[] {
  checkRange(offset, length);
  return overlapping(layout, offset, length).filter((c) => c.objects === undefined);
}

/**
 * Splits [offset, offset + length) into pieces that each lie in one stripe of one component, in file
 * order. Throws EFBIG past the last component's end.
 */
export function planIo(layout: Layout, offset: number, length: number): IoExtent[] {
  checkRange(offset, length);
  const last = layout.components.at(-1)!;
  if (length > 0 && last.end !== EOF_EXTENT && offset + length > last.end) {
    throw new KlError('EFBIG', `I/O to ${offset + length} goes past the end of the layout at ${last.end}`);
  }
  const end = offset + length;
  return overlapping(layout, offset, length).flatMap((c) => {
    const from = Math.max(offset, c.start);
    const to = c.end === EOF_EXTENT ? end : Math.min(end, c.end);
    return c.objects === undefined ? [hole(c, from, to)] : stripePieces(c, from, to);
  });
}

function stripePieces(c: LayoutComponent, from: number, to: number): IoExtent[] {
  const pieces: IoExtent[] = [];
  for (let at = from; at < to; ) {
    const length = Math.min(c.stripeSize - (at % c.stripeSize), to - at);
    const { stripeIndex, objOffset } = locate(c, at);
    const object = c.pattern === 'mdt' ? undefined : c.objects![stripeIndex];
    const kind = c.pattern === 'mdt' ? 'mdt' : 'ost';
    pieces.push({ kind, component: c, stripeIndex, object, objOffset, fileOffset: at, length });
    at += length;
  }
  return pieces;
}

function hole(c: LayoutComponent, from: number, to: number): IoExtent {
  return {
    kind: 'hole',
    component: c,
    stripeIndex: -1,
    object: undefined,
    objOffset: -1,
    fileOffset: from,
    length: to - from,
  };
}

/**
 * The file size that stripe objects of these sizes imply (Lustre's lov_stripe_size, taking the largest
 * over the stripes): the end of the last byte any object holds. `objectSizes[i]` is stripe i's size.
 */
export function fileSizeFromObjects(c: LayoutComponent, objectSizes: readonly number[]): number {
  const size = c.stripeSize;
  const width = size * stripeCountOf(c);
  let fileSize = 0;
  objectSizes.forEach((objectSize, stripe) => {
    if (objectSize === 0) return;
    const full = Math.floor(objectSize / size);
    const tail = objectSize % size;
    const implied = tail > 0 ? full * width + stripe * size + tail : (full - 1) * width + (stripe + 1) * size;
    fileSize = Math.max(fileSize, implied);
  });
  return fileSize;
}

/**
 * The size stripe `stripeIndex` must have for the file to be `fileSize` bytes (Lustre's
 * lov_size_to_stripe): truncating a file truncates each object of the components at or past the new size
 * to this.
 */
export function objectSizeForFileSize(c: LayoutComponent, stripeIndex: number, fileSize: number): number {
  const size = c.stripeSize;
  const width = size * stripeCountOf(c);
  const full = Math.floor(fileSize / width);
  const into = (fileSize % width) - stripeIndex * size;
  if (into < 0) return full * size;
  return full * size + Math.min(into, size);
}

function checkRange(offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new KlError('EINVAL', `bad I/O range: offset ${offset}, length ${length}`);
  }
  if (!Number.isSafeInteger(offset + length))
    throw new KlError('EFBIG', `I/O end ${offset + length} is too big`);
}

function endText(c: LayoutComponent): string {
  return c.end === EOF_EXTENT ? 'EOF' : String(c.end);
}
