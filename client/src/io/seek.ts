import { KlError } from '@kubelustre/protocol/errors.ts';
import {
  EOF_EXTENT,
  type Layout,
  type LayoutComponent,
  type OstObject,
} from '@kubelustre/protocol/layout/types.ts';
import { fileOffsetOf, objectOffsetFrom } from './stripe-ranges.ts';

export type SeekWhence = 'data' | 'hole';

/**
 * SEEK_DATA / SEEK_HOLE inside one OST object (ost.seek): the first object offset at or after `objOffset`
 * that is data (or a hole); undefined when `objOffset` is at or past the object's end (ENXIO), where
 * there is no data and everything is a hole.
 */
export type ObjectSeek = (
  object: OstObject,
  objOffset: number,
  whence: SeekWhence,
) => Promise<number | undefined>;

/** A range of file bytes. */
export interface ByteRange {
  offset: number;
  length: number;
}

/**
 * Where the file's data and holes are, from its layout: an uninstantiated component is a hole, Data-on-MDT
 * bytes are data (the MDT keeps no extent map worth asking), and a raid0 component is asked of its
 * objects, one ost.seek per stripe object (in parallel), each answer mapped back to a file offset; the
 * component's answer is the lowest of them (see stripe-ranges.ts for why one per object is enough).
 * Answers, for `offset` < `size`, the first data offset in [offset, size) (undefined: none), or the
 * first hole offset in it (`size` when none: the implicit hole at the end of the file).
 */
export async function seekInLayout(
  layout: Layout | undefined,
  size: number,
  offset: number,
  whence: SeekWhence,
  objectSeek: ObjectSeek,
): Promise<number | undefined> {
  // Everything before `covered` is known to be data (SEEK_HOLE) or known to hold none (SEEK_DATA).
  let covered = offset;
  for (const c of layout?.components ?? []) {
    const from = Math.max(offset, c.start);
    const to = Math.min(size, c.end === EOF_EXTENT ? size : c.end);
    if (from >= to) continue;
    // Bytes no component covers are never written: a hole.
    if (whence === 'hole' && from > covered) return covered;
    const found = await seekInComponent(c, from, to, whence, objectSeek);
    if (found !== undefined) return found;
    covered = to;
  }
  return whence === 'hole' ? Math.min(covered, size) : undefined;
}

/** The lowest data (or hole) offset in [from, to) of component `c`; undefined if none. */
async function seekInComponent(
  c: LayoutComponent,
  from: number,
  to: number,
  whence: SeekWhence,
  objectSeek: ObjectSeek,
): Promise<number | undefined> {
  if (c.pattern === 'mdt') return whence === 'data' ? from : undefined;
  if (c.objects === undefined) return whence === 'hole' ? from : undefined;
  return seekInStripes(c, from, to, whence, objectSeek);
}

/** seekInComponent for an instantiated raid0 component. */
async function seekInStripes(
  c: LayoutComponent,
  from: number,
  to: number,
  whence: SeekWhence,
  objectSeek: ObjectSeek,
): Promise<number | undefined> {
  const answers = await Promise.all(
    c.objects!.map(async (object, stripe) => {
      const objFrom = objectOffsetFrom(c, stripe, from);
      const objTo = objectOffsetFrom(c, stripe, to);
      if (objFrom >= objTo) return undefined;
      // Past the object's end there is no data, and the first byte there is a hole.
      const found = (await objectSeek(object, objFrom, whence)) ?? (whence === 'hole' ? objFrom : undefined);
      return found !== undefined && found < objTo ? fileOffsetOf(c, stripe, found) : undefined;
    }),
  );
  const offsets = answers.filter((a) => a !== undefined);
  return offsets.length === 0 ? undefined : Math.min(...offsets);
}

/**
 * lseek(SEEK_DATA / SEEK_HOLE) of a file of `size` bytes, as Linux answers it: ENXIO when `offset` is
 * negative or at or past the end, or (SEEK_DATA) when no data follows; SEEK_HOLE finds the implicit hole
 * at the end at the latest. `local` is data only this client holds (dirty and in-flight write-back):
 * data however the objects look. `inLayout` answers for the objects (seekInLayout).
 */
export async function seekFile(
  offset: number,
  whence: SeekWhence,
  size: number,
  local: readonly ByteRange[],
  inLayout: (offset: number, whence: SeekWhence) => Promise<number | undefined>,
): Promise<number> {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset >= size) {
    throw new KlError(
      'ENXIO',
      `SEEK_${whence.toUpperCase()} from ${offset}: not within the file's ${size} bytes`,
    );
  }
  const ranges = mergeRanges(local);
  if (whence === 'data') {
    const stored = await inLayout(offset, 'data');
    const held = ranges.find((r) => r.offset + r.length > offset);
    const candidates = [stored, held && Math.max(held.offset, offset)].filter((x) => x !== undefined);
    const found = candidates.length === 0 ? size : Math.min(...candidates);
    if (found >= size) throw new KlError('ENXIO', `no data at or after ${offset} (size ${size})`);
    return found;
  }
  // A hole in the objects may be covered by local data: then look again past that data.
  for (let at = offset; at < size; ) {
    const hole = Math.min((await inLayout(at, 'hole')) ?? size, size);
    const covering = ranges.find((r) => r.offset <= hole && hole < r.offset + r.length);
    if (covering === undefined) return hole;
    at = covering.offset + covering.length;
  }
  return size;
}

/** Sorted, with overlapping and touching ranges merged. */
export function mergeRanges(ranges: readonly ByteRange[]): ByteRange[] {
  const sorted = ranges.filter((r) => r.length > 0).sort((a, b) => a.offset - b.offset);
  const merged: ByteRange[] = [];
  for (const r of sorted) {
    const last = merged.at(-1);
    if (last && r.offset <= last.offset + last.length) {
      last.length = Math.max(last.length, r.offset + r.length - last.offset);
    } else merged.push({ ...r });
  }
  return merged;
}
